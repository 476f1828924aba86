"""leafbench_distill: train LEAF students (squared L2 to precomputed teacher embeddings) and export them.

Modules, in the order a run uses them: recipe (YAML recipes) → texts (sources with roles) → targets (teacher
embeddings through leafbench's store) → student (ST modules, layer selection, ridge projection) → train
(L2, AdamW, cyclic LR, resume) → evaluation (alignment + asymmetric retrieval) → export (ST folder,
manifest, Router, model card); run holds the library entry points (`distill`, `export_bundle`, `finish_bundle`),
options the settings of a `distill()` call (`DistillOptions`), check the source check (`check_recipe`), and cli
the thin `leafbench distill` command over them.
"""

from .bundle import BundleError
from .check import SourceCheck, check_recipe
from .options import DistillOptions
from .recipe import Recipe, RecipeError, is_staged, list_recipes, load_recipe, load_stages
from .run import DistillResult, distill, export_bundle, finish_bundle
from .soup import SoupError, average_students
from .texts import TextSourceError

__all__ = [
    "BundleError",
    "DistillOptions",
    "DistillResult",
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
]
