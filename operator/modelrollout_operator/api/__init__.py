"""The custom resources' API: pydantic models are the source of truth for the CRDs."""
