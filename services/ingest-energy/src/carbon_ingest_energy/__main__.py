from carbon_common.server import run

from carbon_ingest_energy.app import build

if __name__ == "__main__":
    run(build())
