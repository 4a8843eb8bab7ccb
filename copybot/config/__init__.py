"""Settings: what the user asked for, validated once, frozen.

``settings`` (the pydantic model and its sections), ``loading`` (YAML file plus environment
overrides, one-line errors), ``strict_yaml`` (a key written twice is an error), ``secrets``
(the live wallet key, from the environment or a 0600 file).
"""
