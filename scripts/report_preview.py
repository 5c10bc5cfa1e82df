"""Print a rendered HTML report to PDF with headless Chromium and save page images.

This is how ``docs/report-sample.png`` is made, and how to look at a report as a
reader would: on A4 pages, with the page breaks a browser's "print to PDF" makes.
Needs Chromium (Debian: ``apt-get install chromium``) and pdftoppm
(``poppler-utils``)::

    make demo
    python scripts/report_preview.py demo-reports/2025-10/report.html --out preview/
    python scripts/report_preview.py demo-reports/2025-10/report.html \\
        --sample docs/report-sample.png --pages 1,3

Writes ``report.pdf`` and one ``page-N.png`` per page into ``--out``; with
``--sample``, the chosen pages side by side in one image.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


def find(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"none of {', '.join(names)} found on PATH: install it first")


def print_pdf(html: Path, pdf: Path) -> None:
    browser = find("chromium", "chromium-browser", "google-chrome")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def rasterise(pdf: Path, out: Path, dpi: int) -> list[Path]:
    subprocess.run(
        [find("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(out / "page")], check=True
    )
    return sorted(out.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))


def side_by_side(pages: list[Path], target: Path) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    images = [mpimg.imread(p)[..., :3] for p in pages]
    height = max(i.shape[0] for i in images)
    padded = [
        np.pad(i, ((0, height - i.shape[0]), (0, 8), (0, 0)), constant_values=0.8) for i in images
    ]
    mpimg.imsave(target, np.concatenate(padded, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="a report.html written by 'qostool report'")
    parser.add_argument("--out", type=Path, default=None, help="folder for the PDF and pages")
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument("--sample", type=Path, default=None, help="also write pages side by side")
    parser.add_argument("--pages", default="1,3", help="pages for --sample, e.g. 1,3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        pdf = out / "report.pdf"
        print_pdf(args.html, pdf)
        pages = rasterise(pdf, out, args.dpi)
        print(f"{len(pages)} A4 pages: {pdf}")
        if args.sample:
            wanted = [int(n) for n in args.pages.split(",")]
            side_by_side([pages[n - 1] for n in wanted if n <= len(pages)], args.sample)
            print(f"sample: {args.sample}")


if __name__ == "__main__":
    main()
