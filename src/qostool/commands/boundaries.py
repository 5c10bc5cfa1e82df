"""``qostool boundaries import`` and ``list``: commune boundaries in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qostool.app import (
    EXIT_CODES_HELP,
    DebugOption,
    JsonOption,
    app,
    handle_errors,
)
from qostool.commands.common import ConfigOption, StoreOption, TimezoneOption, store_location

boundaries_app = typer.Typer(
    help="Commune boundaries: import them into the store, list the stored versions.",
    no_args_is_help=True,
)
app.add_typer(boundaries_app, name="boundaries")

BOUNDARIES_IMPORT_HELP = """Import commune boundaries into the store as a new version.

Reads GeoJSON, Shapefile (.shp with its .prj/.cpg, or zipped), GeoPackage
(--layer) and GeoParquet, in any CRS (reprojected to WGS84). Invalid
geometries are repaired and reported; names are Unicode-normalised (NFC);
the code and name fields are detected or given; duplicate codes are refused.
Overlaps and gaps between neighbouring communes are reported. The version
label (file stem + content hash) is recorded by every analysis that uses it;
importing the same boundaries again changes nothing. --credit names who made
the boundaries: the report prints it under its maps. See docs/boundaries.md.

[bold]Examples[/]:

  qostool boundaries import laichau_communes.shp --store ./qostool-data
  qostool boundaries import vietnam_communes.geojson --province "Lai Châu"
  qostool boundaries import communes.gpkg --layer xa --code-field ma_xa --name-field ten_xa
  qostool boundaries import xa_2025.geojson --credit "Bản đồ hành chính cấp xã 2025, gis.vn"
"""


@boundaries_app.command("import", help=BOUNDARIES_IMPORT_HELP, epilog=EXIT_CODES_HELP)
@handle_errors
def boundaries_import(
    path: Annotated[Path, typer.Argument(help="Boundary file.", show_default=False)],
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    province: Annotated[
        str | None,
        typer.Option(help="Keep one province of a national file: its code or name."),
    ] = None,
    all_provinces: Annotated[
        bool,
        typer.Option(
            "--all-provinces",
            help="Import every province of a file that holds several (a national analysis). "
            "Without it or --province, such a file is refused.",
        ),
    ] = False,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage.")] = None,
    code_field: Annotated[
        str | None, typer.Option(help="Field holding the commune code (default: detect).")
    ] = None,
    name_field: Annotated[
        str | None, typer.Option(help="Field holding the commune name (default: detect).")
    ] = None,
    population_field: Annotated[
        str | None, typer.Option(help="Field holding the population (default: detect).")
    ] = None,
    credit: Annotated[
        str | None,
        typer.Option(
            help="Who made the boundaries and on what terms, printed under the report's "
            "maps (default: the report names the file).",
        ),
    ] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from qostool.geo.boundaries import BoundaryOptions
    from qostool.geo.versions import import_boundaries
    from qostool.render import print_boundaries_import
    from qostool.store import Store

    options = BoundaryOptions(
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        province=province,
        population_field=population_field,
        all_provinces=all_provinces,
        credit=credit,
    )
    root, zone = store_location(config, store, timezone)
    result = import_boundaries(Store.open(root, timezone=zone, create=True), path, options)
    if json_output:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_boundaries_import(result)


@boundaries_app.command("list", epilog=EXIT_CODES_HELP)
@handle_errors
def boundaries_list(
    *,
    config: ConfigOption = None,
    store: StoreOption = None,
    timezone: TimezoneOption = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """List the boundaries versions in the store, newest first (analyze uses the newest)."""
    from qostool.geo.versions import KIND
    from qostool.render import print_boundaries_list
    from qostool.store import Store

    root, zone = store_location(config, store, timezone)
    found = Store.open(root, timezone=zone).artifacts(KIND)
    if json_output:
        rows = [{"version": a.key, "imported_at": a.created_at, **a.meta} for a in found]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print_boundaries_list(found)
