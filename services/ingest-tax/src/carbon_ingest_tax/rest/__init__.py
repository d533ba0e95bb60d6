"""HTTP edge: one router per resource (invoice uploads; liveness is carbon_common.http.health)."""
