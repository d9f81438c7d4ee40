"""TaskFlow decorators of the provider (``@task.nomad``)."""
