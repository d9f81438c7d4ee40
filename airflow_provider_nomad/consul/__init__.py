"""Pure, I/O-free Consul logic shared by the sync and async Consul hooks, the sensor and the
trigger: request builders (:mod:`.requests`) and the health evaluation (:mod:`.health`)."""
