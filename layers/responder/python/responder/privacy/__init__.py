"""Privacy: erasure of what platforms and people ask to delete, and access to what is stored about a person."""
