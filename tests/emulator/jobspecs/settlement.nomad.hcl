# Nightly trade settlement: a parameterized batch job, dispatched once per business date by
# Airflow (NomadDispatchJobOperator) with the date and an account range as meta.

variable "datacenters" {
  description = "Datacenters allowed to run settlement"
  type        = list(string)
  default     = ["ldn-1", "ldn-2"]
}

variable "image_tag" {
  description = "Version of the settlement engine image"
  type        = string
  default     = "2026.05.1"

  validation {
    condition     = length(regex_replace(var.image_tag, "^[0-9]{4}\\.[0-9]{2}\\.[0-9]+$", "")) == 0
    error_message = "The image tag must look like YYYY.MM.N."
  }
}

variable "environment" {
  type    = string
  default = "uat"

  validation {
    condition     = contains(["uat", "prod"], var.environment)
    error_message = "The environment must be uat or prod."
  }
}

variable "resources" {
  type = object({
    cpu    = number
    memory = number
  })
  default = {
    cpu    = 1000
    memory = 2048
  }
}

variables {
  desk = "fixed-income"
}

locals {
  registry   = "registry.internal.example.com"
  image      = "${local.registry}/settlement/engine:${var.image_tag}"
  job_prefix = lower(format("%s-%s", var.desk, var.environment))
  is_prod    = var.environment == "prod"
  vault_role = "settlement-${var.environment}"
  labels = merge(
    { team = "back-office", desk = var.desk },
    local.is_prod ? { paging = "settlement-oncall" } : {},
  )
}

job "settlement" {
  type        = "batch"
  datacenters = var.datacenters
  namespace   = "finance"
  priority    = local.is_prod ? 80 : 50

  meta = {
    "owner"          = "back-office"
    "desk"           = var.desk
    "engine.version" = var.image_tag
  }

  parameterized {
    payload       = "optional"
    meta_required = ["business_date"]
    meta_optional = ["account_range", "dry_run"]
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  reschedule {
    attempts  = 0
    unlimited = false
  }

  group "settle" {
    count = 1

    restart {
      attempts = 1
      delay    = "30s"
      mode     = "fail"
    }

    network {
      mode = "bridge"
    }

    volume "ledger" {
      type      = "host"
      source    = "ledger-${var.environment}"
      read_only = false
    }

    service {
      name     = "${local.job_prefix}-settlement"
      provider = "nomad"
      tags     = concat(["settlement", "batch"], local.is_prod ? ["prod"] : [])
    }

    task "engine" {
      driver = "docker"

      config {
        image = local.image
        args = [
          "settle",
          "--business-date", "${NOMAD_META_business_date}",
          "--accounts", "${NOMAD_META_account_range}",
          "--input", "${NOMAD_TASK_DIR}/instructions.json",
        ]
        labels = local.labels

        logging {
          type = "json-file"
          config {
            max-size = "50m"
          }
        }
      }

      dispatch_payload {
        file = "instructions.json"
      }

      artifact {
        source      = "https://artifacts.internal.example.com/settlement/calendars-${var.image_tag}.tar.gz"
        destination = "local/calendars"
        options {
          checksum = "sha256:${sha256("calendars-${var.image_tag}")}"
        }
      }

      vault {
        role        = local.vault_role
        change_mode = "noop"
      }

      identity {
        name = "vault_default"
        aud  = ["vault.io"]
        ttl  = "1h"
      }

      template {
        destination = "secrets/settlement.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/settlement" -}}
          LEDGER_DB_URL={{ .ledger_db_url }}
          SWIFT_GATEWAY={{ .swift_gateway }}
          {{- end }}
          {{ with secret "database/creds/${local.vault_role}" -}}
          LEDGER_DB_USER={{ .Data.username }}
          LEDGER_DB_PASSWORD={{ .Data.password }}
          {{- end }}
          DESK=${upper(var.desk)}
          %{ if local.is_prod ~}
          PAGING=${local.labels["paging"]}
          %{ endif ~}
          ALLOC_DIR=${NOMAD_ALLOC_DIR}
        EOT
      }

      volume_mount {
        volume      = "ledger"
        destination = "/var/lib/ledger"
      }

      env {
        ENVIRONMENT = var.environment
        DRY_RUN     = "${NOMAD_META_dry_run}"
        TZ          = "Europe/London"
      }

      resources {
        cpu    = var.resources.cpu
        memory = var.resources.memory
      }

      logs {
        max_files     = 10
        max_file_size = 50
      }

      kill_timeout = "2m"
    }
  }
}
