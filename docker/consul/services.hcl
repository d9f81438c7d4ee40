# Stand-ins for the services the nightly settlement reads from, registered in the dev agent's
# catalog with checks that pass, so nightly_settlement's ConsulHealthSensor tasks succeed.
# `consul maint -enable -service=ledger-db-1` makes one unhealthy, to watch the DAG wait for it.
services = [
  {
    id   = "ledger-db-1"
    name = "ledger-db"
    port = 5432
    tags = ["primary"]
    checks = [{ name = "ledger-db reachable", tcp = "localhost:8500", interval = "10s", status = "passing" }]
  },
  {
    id   = "market-data-1"
    name = "market-data"
    port = 9001
    checks = [{ name = "feed handler up", tcp = "localhost:8500", interval = "10s", status = "passing" }]
  },
  {
    id   = "market-data-2"
    name = "market-data"
    port = 9002
    checks = [{ name = "feed handler up", tcp = "localhost:8500", interval = "10s", status = "passing" }]
  },
  {
    id   = "trade-capture-1"
    name = "trade-capture"
    port = 8443
    checks = [{ name = "trade capture up", tcp = "localhost:8500", interval = "10s", status = "passing" }]
  },
]
