from .. import require_torch_backend

require_torch_backend("sionna_csifb.evaluation")
