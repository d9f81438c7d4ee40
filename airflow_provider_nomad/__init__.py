"""Apache Airflow provider for HashiCorp Nomad and Consul."""

__version__ = "0.1.0"
