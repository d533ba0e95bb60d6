"""Development kit: what `make run`, the benchmarks and the tests use to run the platform locally.

- `checkout`: paths of the source checkout, project tool binaries, the policy bundle;
- `ports`: free local ports;
- `redis_server`: Debian's redis-server on a port, with AOF (start, SIGKILL, restart);
- `processes`: one service as an OS process (`python -m <package>`), waits for SERVING;
- `stack`: Redis and a set of services wired through the catalog, as `make run` does (`local`);
- `seed`: enterprises, consents and accounts through the services' real APIs.

Nothing here is imported by a deployable (services/*, libs/carbon-common, carbon-ingest,
carbon-synth, ops/carbonctl): tests/foundation/test_devkit_boundary.py enforces it.
"""
