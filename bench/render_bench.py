"""Render the bilingual MoU (PDF + DOCX) many times in one process; print a JSON summary.

    .venv/bin/python bench/render_bench.py [--renders 200] [--warmup 10]

Measures, in a fresh process:
- cold: the first render (template compile, WeasyPrint/python-docx imports, font loading);
- warm: the median / p90 / max of the following renders (render + PDF + DOCX, as ``render_draft`` does);
- memory: resident set size (VmRSS from /proc/self/status) after the warm-up and after the last
  render, to show it stays flat.
Targets (see the drafting brief): warm median ≤ 0.5 s, cold ≤ 3 s, RSS flat over 200 renders.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

PROCESS_START = time.perf_counter()
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def snapshot(specs) -> dict:
    """A realistic MoU: an Italian and a Russian firm, two signatories, every field filled in."""
    return {
        "template": {"id": 1, "key": "mou", "version": 1},
        "title": "MoU Meccatronica Piemontese – Sibirskie tekhnologii",
        "fields": {
            "subject_it": "la progettazione e la messa in servizio di linee di assemblaggio meccatroniche per il "
                          "distretto automobilistico di Togliatti",
            "subject_ru": "проектирование и ввод в эксплуатацию мехатронных сборочных линий для автомобильного "
                          "кластера Тольятти",
            "sectors": ["Meccanica e meccatronica / Механика и мехатроника", "Energia / Энергетика"],
            "effective_date": "2026-11-25", "duration_years": 3, "notice_days": 60, "budget_eur": 1234567.5,
            "coordinator": 1, "signing_place_it": "Torino", "signing_place_ru": "Турин",
        },
        "parties": [
            {"id": 1, "country": "IT", "name_it": "Meccatronica Piemontese S.r.l.", "name_ru": "Мекатроника Пьемонтезе",
             "address_it": "Via Nizza 150, 10126 Torino", "address_ru": "Виа Ницца 150, 10126 Турин"},
            {"id": 2, "country": "RU", "name_it": "OOO Sibirskie tekhnologii", "name_ru": "ООО «Сибирские технологии»",
             "address_it": "Novosibirsk, via Lenin 12", "address_ru": "Новосибирск, ул. Ленина 12"},
        ],
        "signatories": [
            {"id": 1, "name_it": "Marco Bianchi", "name_ru": "Марко Бьянки", "title": "Amministratore delegato",
             "organization_id": 1, "email": ""},
            {"id": 2, "name_it": "Anna Smirnova", "name_ru": "Анна Смирнова", "title": "Генеральный директор",
             "organization_id": 2, "email": ""},
        ],
        "session": {"name": "Torino 2026", "place": "Torino", "starts_on": "2026-11-24", "ends_on": "2026-11-25"},
        "date": date(2026, 11, 25).isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    started = time.perf_counter()
    from docmgr.drafting import rendering

    import_s = time.perf_counter() - started
    meta = json.loads((REPO_ROOT / "templates" / "mou.json").read_text())
    specs = rendering.parse_field_declarations(meta["fields"])
    body = (REPO_ROOT / "templates" / "mou.html.j2").read_text()
    data = snapshot(specs)

    def render_once() -> tuple[bytes, bytes]:
        rendered = rendering.render_agreement(body, specs, data)
        return rendering.build_pdf(rendered), rendering.build_docx(rendered)

    started, started_cpu = time.perf_counter(), time.process_time()
    pdf, docx_bytes = render_once()
    first_render_s = time.perf_counter() - started
    first_render_cpu_s = time.process_time() - started_cpu
    cold_total_s = time.perf_counter() - PROCESS_START

    from pypdf import PdfReader

    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    warm: list[float] = []
    warm_cpu: list[float] = []
    rss_after_warmup = None
    rss_samples = []
    for index in range(args.renders):
        started, started_cpu = time.perf_counter(), time.process_time()
        render_once()
        warm.append(time.perf_counter() - started)
        warm_cpu.append(time.process_time() - started_cpu)
        if index + 1 == args.warmup:
            rss_after_warmup = rss_mb()
        if (index + 1) % 25 == 0:
            rss_samples.append(round(rss_mb(), 1))
    rss_end = rss_mb()
    measured = warm[args.warmup:] or warm
    measured_cpu = warm_cpu[args.warmup:] or warm_cpu
    summary = {
        "renders": args.renders,
        "pages": pages,
        "pdf_bytes": len(pdf),
        "docx_bytes": len(docx_bytes),
        "import_s": round(import_s, 3),
        "cold_first_render_s": round(first_render_s, 3),
        "cold_process_to_first_render_s": round(cold_total_s, 3),
        "warm_median_s": round(statistics.median(measured), 3),
        "warm_p90_s": round(statistics.quantiles(measured, n=10)[-1], 3) if len(measured) >= 10 else None,
        "warm_max_s": round(max(measured), 3),
        # CPU time of this process per render: what the render costs when the machine is not shared.
        "warm_median_cpu_s": round(statistics.median(measured_cpu), 3),
        "cold_first_render_cpu_s": round(first_render_cpu_s, 3),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "rss_mb_after_warmup": round(rss_after_warmup or rss_end, 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - (rss_after_warmup or rss_end), 1),
        "rss_mb_every_25": rss_samples,
        "targets": {"warm_median_s": 0.5, "cold_s": 3.0},
        "ok": statistics.median(measured) <= 0.5 and cold_total_s <= 3.0,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
