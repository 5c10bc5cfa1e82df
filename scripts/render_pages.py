"""Render the report of a real province and a synthetic month, and every page as PNG.

One command to look at the report as its readers will, page by page::

    python scripts/render_pages.py --out pages/

1. builds a store in ``<out>/store`` from the real boundaries of Gia Lai (135 communes,
   ``../shared/data/boundaries_2025/vn2025_communes_gia_lai.geojson`` next to the
   repository, or ``--boundaries``) and two synthetic months of i-Speed tests
   (September and October 2025, made with the generator of ``scripts/make_samples.py``:
   more tests where more people live, a few slow communes, no planted faults);
2. runs ``qostool ingest``, ``analyze`` (both months) and ``report --month 2025-10`` into
   ``<out>/reports`` (HTML, DOCX, PDF and Markdown);
3. renders every page to ``<out>/pages/<format>/page-N.png``: the DOCX converted to PDF
   by LibreOffice (``soffice --headless --convert-to pdf``), the PDF as it is, the HTML
   printed to PDF by headless Chromium, each then rasterised by ``pdftoppm``.

Without the boundaries it says so and stops (exit 0: nothing to look at here). The
tools each format needs are looked for before any work; a missing one is named with the
package that installs it (or leave its format out with ``--formats``). The same
command gives the same report files (a fixed seed, ``--generated-at``).

Exit codes: 0 done (or skipped: no boundaries); 1 a tool is missing or a step failed;
2 wrong usage.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BOUNDARIES = (
    REPO.parent / "shared" / "data" / "boundaries_2025" / "vn2025_communes_gia_lai.geojson"
)
MONTHS = ("2025-09", "2025-10")
#: The formats whose pages can be rendered, in the order they are rendered.
FORMATS = ("docx", "pdf", "html")
#: i-Speed tests per month: about 90 a commune, fewer where few people live.
TESTS_PER_MONTH = 12_000
GENERATED_AT = "2025-11-05"
SEED_STREAM = "render-pages"


@dataclass(frozen=True)
class Tool:
    """A system program a format needs, and how to install it."""

    commands: tuple[str, ...]
    package: str
    install: str


TOOLS = {
    "soffice": Tool(
        ("soffice", "libreoffice"),
        "libreoffice",
        "apt-get install libreoffice-writer (Debian/Ubuntu), brew install --cask libreoffice",
    ),
    "pdftoppm": Tool(
        ("pdftoppm",), "poppler-utils", "apt-get install poppler-utils, brew install poppler"
    ),
    "chromium": Tool(
        ("chromium", "chromium-browser", "google-chrome"),
        "chromium",
        "apt-get install chromium (Debian), snap install chromium (Ubuntu)",
    ),
}
#: The tools each format's pages need.
NEEDS = {"docx": ("soffice", "pdftoppm"), "pdf": ("pdftoppm",), "html": ("chromium", "pdftoppm")}


class StepError(Exception):
    """A step that cannot go on: its message says why and what to do."""


def parse_formats(text: str) -> tuple[str, ...]:
    """``--formats docx,pdf,html``: the formats in the order given, without repeats."""
    formats: list[str] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        if item not in FORMATS:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a format whose pages can be rendered: use {', '.join(FORMATS)}"
            )
        if item not in formats:
            formats.append(item)
    if not formats:
        raise argparse.ArgumentTypeError(f"give at least one of {', '.join(FORMATS)}")
    return tuple(formats)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for everything made")
    parser.add_argument(
        "--boundaries",
        type=Path,
        default=DEFAULT_BOUNDARIES,
        help="the province's commune boundaries (default: Gia Lai in ../shared/data)",
    )
    parser.add_argument(
        "--formats",
        type=parse_formats,
        default=FORMATS,
        help=f"whose pages to render (default: {','.join(FORMATS)})",
    )
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help="report language")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the page images")
    parser.add_argument(
        "--map-labels", choices=("names", "numbers", "none"), default=None, help="as in report"
    )
    args = parser.parse_args(argv)
    if args.dpi < 20 or args.dpi > 600:
        parser.error(f"--dpi {args.dpi}: use 20 to 600")
    return args


def find_tool(name: str) -> str:
    """The path of a tool, or StepError naming the package that installs it."""
    tool = TOOLS[name]
    for command in tool.commands:
        found = shutil.which(command)
        if found:
            return found
    raise StepError(
        f"{tool.commands[0]} not found on PATH: install the {tool.package} package ({tool.install})"
    )


def check_tools(formats: Sequence[str]) -> dict[str, str]:
    """Every tool the formats need, found before any work (StepError: all that are missing)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in dict.fromkeys(t for f in formats for t in NEEDS[f]):
        try:
            found[name] = find_tool(name)
        except StepError as exc:
            users = [f for f in formats if name in NEEDS[f]]
            missing.append(f"{exc} (needed for {', '.join(users)})")
    if missing:
        raise StepError("\n".join([*missing, "or leave those formats out with --formats"]))
    return found


# -- the store and the report ----------------------------------------------------------


def synthetic_tests(boundaries: Path, folder: Path) -> list[Path]:
    """One i-Speed CSV per month of :data:`MONTHS`, inside the communes of ``boundaries``.

    The tests come from ``make_samples.py``'s generator: its devices, times of day,
    speeds per commune (35-70 Mbps means) and i-Speed rendering; each commune is its
    largest part's outer ring, and busier where more people live.
    """
    import geopandas as gpd
    import make_samples as ms
    import shapely

    frame = gpd.read_file(boundaries)
    communes = []
    for row in frame.itertuples():
        parts = list(shapely.get_parts(row.geometry))
        largest = max(parts, key=lambda p: p.area)
        ring = np.asarray(shapely.get_coordinates(largest.exterior))
        population = int(getattr(row, "population", 0) or 0)
        communes.append(ms.Commune(str(row.id), str(row.name), str(row.type), population, ring))
    weights = np.array([max(c.population, 1_000) for c in communes], dtype=float)
    world = ms.World(
        communes=communes,
        by_code={c.code: c for c in communes},
        medians=ms.commune_medians(ms.rng_for(f"{SEED_STREAM}-medians"), communes),
        busy_codes=[c.code for c in communes],
        busy_p=weights / weights.sum(),
    )
    devices = ms.make_devices(ms.rng_for(f"{SEED_STREAM}-devices"), 3_000, "ispeed")
    files = []
    for month in MONTHS:
        rng = ms.rng_for(f"{SEED_STREAM}-{month}")
        times = ms.local_times(rng, ms.month_start(month), ms.month_days(month), TESTS_PER_MONTH)
        tests = sorted(ms.busy_tests(rng, world, devices, times), key=lambda t: t.utc)
        rows = ms.render_ispeed([ms.Row(t) for t in tests], month, duplicate=False)
        path = folder / f"ispeed_{month}.csv"
        path.write_bytes(ms.csv_bytes(ms.ISPEED_HEADER, rows, ";", "\r\n", True))
        files.append(path)
    return files


def qostool(*args: str | Path) -> None:
    """Run a qostool command (this Python's); StepError with its output when it fails."""
    command = [sys.executable, "-m", "qostool", *(str(a) for a in args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 4):  # 4: ran fine, communes below target
        raise StepError(
            f"qostool {args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


def build_report(
    boundaries: Path, out: Path, formats: Sequence[str], lang: str, labels: str | None
) -> dict[str, Path]:
    """A fresh store and the report of October 2025 in ``out/reports``: its files by format."""
    store = out / "store"
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(out / "reports", ignore_errors=True)
    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    qostool("boundaries", "import", boundaries, "--store", store)
    qostool("ingest", *synthetic_tests(boundaries, inputs), "--store", store)
    for month in MONTHS:
        qostool("analyze", "--month", month, "--store", store)
    wanted = ",".join(dict.fromkeys([*formats, "md"]))
    options = ["--lang", lang, "--generated-at", GENERATED_AT, "--format", wanted]
    if labels is not None:
        options += ["--map-labels", labels]
    qostool("report", "--month", MONTHS[-1], "--store", store, "--out", out / "reports", *options)
    folder = out / "reports" / MONTHS[-1]
    return {f: folder / f"report.{f}" for f in formats}


# -- pages -------------------------------------------------------------------------------


def run(command: Sequence[str | Path], what: str, timeout: int = 300) -> None:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise StepError(f"{what} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def docx_to_pdf(soffice: str, docx: Path, folder: Path) -> Path:
    """The DOCX as LibreOffice prints it (its own profile, so a running LibreOffice is left
    alone)."""
    with tempfile.TemporaryDirectory() as profile:
        run(
            [
                soffice,
                f"-env:UserInstallation={Path(profile).as_uri()}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                folder,
                docx,
            ],
            "soffice --convert-to pdf",
        )
    pdf = folder / f"{docx.stem}.pdf"
    if not pdf.is_file():
        raise StepError(f"soffice wrote no {pdf.name} (is the DOCX readable?)")
    return pdf


def html_to_pdf(chromium: str, html: Path, pdf: Path) -> Path:
    """The HTML printed to A4 by headless Chromium (as a reader's browser prints it)."""
    from report_preview import CHROMIUM_FLAGS

    with tempfile.TemporaryDirectory() as profile:
        run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf}",
                html.resolve().as_uri(),
            ],
            "chromium --print-to-pdf",
            timeout=180,
        )
    return pdf


def rasterise(pdftoppm: str, pdf: Path, folder: Path, dpi: int) -> list[Path]:
    """Every page of ``pdf`` as ``folder/page-N.png`` (the folder emptied first)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run([pdftoppm, "-r", str(dpi), "-png", pdf, folder / "page"], "pdftoppm")
    return sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))


def render_pages(
    files: dict[str, Path], tools: dict[str, str], out: Path, dpi: int
) -> dict[str, list[Path]]:
    """Every page of every format's file, as PNG under ``out/pages/<format>/``."""
    printed = out / "printed"
    printed.mkdir(parents=True, exist_ok=True)
    pages: dict[str, list[Path]] = {}
    for name, path in files.items():
        if name == "docx":
            pdf = docx_to_pdf(tools["soffice"], path, printed)
        elif name == "html":
            pdf = html_to_pdf(tools["chromium"], path, printed / "report-html.pdf")
        else:
            pdf = path
        pages[name] = rasterise(tools["pdftoppm"], pdf, out / "pages" / name, dpi)
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_samples, report_preview
    if not args.boundaries.is_file():
        print(
            f"skipped: no boundaries at {args.boundaries} (the real public data kept next to "
            "the repository in ../shared/data); give a province's boundary file with "
            "--boundaries",
            file=sys.stderr,
        )
        return 0
    try:
        tools = check_tools(args.formats)
        if "pdf" in args.formats:
            from qostool.report.pdf import PdfEngineError, check_pdf_engine

            try:
                check_pdf_engine()
            except PdfEngineError as exc:
                raise StepError(
                    f"{exc.message} ({exc.hint}), or leave pdf out with --formats"
                ) from None
        print(f"building the store and the report in {args.out} ...", file=sys.stderr)
        files = build_report(args.boundaries, args.out, args.formats, args.lang, args.map_labels)
        pages = render_pages(files, tools, args.out, args.dpi)
    except StepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, images in pages.items():
        print(f"{name}: {len(images)} pages in {args.out / 'pages' / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
