"""``%aml_debug``: parse a line with :mod:`.grammar` and hand it to its subcommand in :mod:`.commands`."""

from __future__ import annotations

from typing import Any, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from amldebug_jupyter.core import context
from amldebug_jupyter.errors import UserError
from amldebug_jupyter.notebook import grammar


@magics_class
class AmlDebugMagics(Magics):
    @line_cell_magic
    def aml_debug(self, line: str, cell: Optional[str] = None) -> Any:
        args = grammar.parse(line, context.current().config)
        if cell is not None and (args.subcommand, getattr(args, "action", None)) != ("pipeline", "submit"):
            raise UsageError("%%aml_debug (cell form) only takes 'pipeline submit [options]'.")
        # The whole API (bridge, backends, deploy) loads on the first command, not at %load_ext.
        from amldebug_jupyter.notebook.commands import COMMANDS

        try:
            return COMMANDS[args.subcommand](self.shell, args, cell)
        except UserError as e:  # the cell fails with one line, so Run All stops here
            raise UsageError(f"aml_debug: {e}") from None


AmlDebugMagics.aml_debug.__doc__ = grammar.help_text()
