"""What ``make docs`` derives: the generated parts of the docs and the JSON Schemas."""
