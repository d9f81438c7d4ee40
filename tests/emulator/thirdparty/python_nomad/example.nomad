# `nomad job init`'s example job, which the suite's CI writes out before the tests run, with
# the docker task turned into a mock_driver one (no docker here; the emulator runs no images).
job "example" {
  datacenters = ["*"]
  type        = "service"

  update {
    max_parallel      = 1
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = false
    canary            = 0
  }

  migrate {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "5m"
  }

  group "cache" {
    count = 1

    restart {
      attempts = 2
      interval = "30m"
      delay    = "15s"
      mode     = "fail"
    }

    ephemeral_disk {
      size = 300
    }

    task "redis" {
      driver = "mock_driver"

      config {
        run_for       = "24h"
        stdout_string = "Ready to accept connections\n"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
