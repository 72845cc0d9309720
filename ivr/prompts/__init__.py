"""The prompt catalog (``prompts/<locale>.yaml``) and its audio (``audio/<locale>/``)."""
