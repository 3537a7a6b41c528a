"""The ``flatnet`` command: a thin shell that mounts each component's commands lazily."""
