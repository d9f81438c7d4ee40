# Dev-mode Nomad agent (server and client in one) for the example stack. Not for production:
# no ACLs, no TLS, state kept in memory.

# Listen on every interface of the container, so the Airflow container reaches the HTTP API.
bind_addr = "0.0.0.0"

# Run the batch programs as plain host processes (python3 from this image).
plugin "raw_exec" {
  config {
    enabled = true
  }
}

consul {
  address = "consul:8500"
}
