"""Cost of parsing a small hostile invoice upload (cells like 1e999999999).

Parses the CSV exactly as the upload edge does (read_table + parse_rows) and
reports peak RSS and wall/CPU time. One JSON object on the last line.

    .venv/bin/python bench/bench_upload_parse.py
"""

from __future__ import annotations

import json
import resource
import time

from carbon_common.errors import ServiceError
from carbon_ingest_tax.upload import parse_rows, read_table

HEADER = "发票号码,开票日期,销方识别号,购方识别号,税收分类编码,货物或应税劳务名称,数量,金额"
ROW = "{n},2024-03-01,91330500MA2B3C4D5E,91330100MA27XYZ12K,1100101020000000000,*电力*电,1e999999999,1e999999999"


def hostile_csv() -> bytes:
    rows = [HEADER, ROW.format(n="24330000000000000001"), ROW.format(n="24330000000000000002")]
    return ("\n".join(rows) + "\n").encode()


def main() -> None:
    content = hostile_csv()
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = "parsed"
    violations = 0
    try:
        parse_rows(read_table("hostile.csv", content))
    except ServiceError as error:
        outcome = error.code.name
        violations = len(error.field_violations)
    result = {
        "payload_bytes": len(content),
        "outcome": outcome,
        "field_violations": violations,
        "wall_seconds": round(time.perf_counter() - wall, 4),
        "cpu_seconds": round(time.process_time() - cpu, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
