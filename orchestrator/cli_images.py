"""`feeddock images ...`: build, list and remove the worker images (Docker runtime)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import FeeddockError

if TYPE_CHECKING:
    from .runtime.docker import DockerRuntime

images_app = typer.Typer(
    help="Build, list and remove the feeddock Docker images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


def _fail(exc: FeeddockError) -> typer.Exit:
    errors.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True)
    return typer.Exit(code=2)


@images_app.command("build")
def build(
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Build only this image: provider or broadcast (repeatable)."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(
            help="Base image (default: $FEEDDOCK_BASE_IMAGE, else what scripts/base-image.sh "
            "finds or builds: python:3.11-slim or a local Debian image)."
        ),
    ] = None,
    tag: Annotated[
        str | None, typer.Option(help="Tag instead of the configured one (e.g. 'dev').")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Show only the result.")] = False,
) -> None:
    """Build the provider and broadcast images, from this checkout or from the installed package."""
    from . import images

    def progress(line: str) -> None:
        if not quiet:
            typer.echo(line)

    try:
        built = images.build(role or images.ROLES, base=base_image, tag=tag, progress=progress)
    except FeeddockError as exc:
        raise _fail(exc) from None
    console.print(f"Built: {', '.join(built)}", highlight=False, soft_wrap=True)


def _runtime() -> DockerRuntime:
    from .runtime.docker import DockerRuntime  # lazily: only these commands need docker-py

    return DockerRuntime()


@images_app.command("list")
def list_images() -> None:
    """List the feeddock images this engine has."""
    runtime = _runtime()
    try:
        found = runtime.engine.list_images()
    except FeeddockError as exc:
        raise _fail(exc) from None
    finally:
        runtime.close()
    table = Table("image", "role", "id", "size", "created")
    for image in found:
        table.add_row(
            ", ".join(image.tags) or "<none>",
            image.role,
            image.id.removeprefix("sha256:")[:12],
            f"{image.size / 1e6:.0f} MB",
            image.created,
        )
    console.print(table)


@images_app.command("remove")
def remove(
    reference: Annotated[
        list[str] | None,
        typer.Argument(help="Images to remove (default: the configured provider and broadcast)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Remove even if a container uses it.")] = False,
) -> None:
    """Remove feeddock images (running connections keep their containers)."""
    runtime = _runtime()
    try:
        targets = reference or list(runtime.images.values())
        for target in targets:
            done = runtime.engine.remove_image(target, force=force)
            console.print(f"{'Removed' if done else 'Not present:'} {target}", highlight=False)
    except FeeddockError as exc:
        raise _fail(exc) from None
    finally:
        runtime.close()


__all__ = ["images_app"]

if __name__ == "__main__":  # `python -m orchestrator.cli_images build` (before `feeddock images`)
    images_app()
