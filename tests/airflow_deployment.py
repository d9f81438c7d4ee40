"""The real Airflow deployment of the tests lives in the package, so the benchmarks use it too."""

from airflow_provider_nomad.testing.airflow_deployment import (  # noqa: F401
    COMPONENTS,
    HANG_BOUND,
    POLL,
    Deployment,
    DeploymentError,
    free_port,
)
