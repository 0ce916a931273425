"""Resources: storage today; resilient LLM and API resources, the reliability store and alerts next."""
