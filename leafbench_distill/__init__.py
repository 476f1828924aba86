"""leafbench_distill: train LEAF students (squared L2 to precomputed teacher embeddings) and export them.

Modules, in the order a run uses them: recipe (YAML recipes) → texts (sources with roles) → targets (teacher
embeddings through leafbench's store) → student (ST modules, layer selection, ridge projection) → train
(L2, AdamW, cyclic LR, resume) → evaluation (alignment + asymmetric retrieval) → export (ST folder,
manifest, Router) → cards (model cards) → hub (`push_run`: a finished run to the Hugging Face Hub); run holds
the library entry points (`distill`, `export_bundle`, `finish_bundle`), options the settings of a `distill()`
call (`DistillOptions`), check the source check (`check_recipe`), and cli the thin `leafbench distill`,
`soup` and `push` commands over them.
"""

from .bundle import BundleError
from .check import SourceCheck, check_recipe
from .hub import PushError, push_run
from .options import DistillOptions
from .recipe import Recipe, RecipeError, is_staged, list_recipes, load_recipe, load_stages
from .run import DistillResult, distill, export_bundle, finish_bundle
from .soup import SoupError, average_students
from .texts import TextSourceError

__all__ = [
    "BundleError",
    "DistillOptions",
    "DistillResult",
    "PushError",
    "Recipe",
    "RecipeError",
    "SoupError",
    "SourceCheck",
    "TextSourceError",
    "average_students",
    "check_recipe",
    "distill",
    "export_bundle",
    "finish_bundle",
    "is_staged",
    "list_recipes",
    "load_recipe",
    "load_stages",
    "push_run",
]
