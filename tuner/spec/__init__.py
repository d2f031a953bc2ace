"""Study files -> validated, frozen StudySpec (model.py); reading and checks (load.py)."""

from tuner.spec.files import BUILTIN_STUDIES, builtin_names, find_study_file
from tuner.spec.load import check_seed, load_spec, parse_spec
from tuner.spec.model import Final, ParamSpace, Refine, Stage, StudySpec

__all__ = ["BUILTIN_STUDIES", "Final", "ParamSpace", "Refine", "Stage", "StudySpec",
           "builtin_names", "check_seed", "find_study_file", "load_spec", "parse_spec"]
