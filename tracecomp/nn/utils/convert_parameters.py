"""parameters_to_vector / vector_to_parameters: all parameters as one flat vector and back."""
from ... import composite as C


def parameters_to_vector(parameters):
    return C.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Overwrite each parameter's data with its slice of vec (no autograd history)."""
    if vec.dim() != 1:
        raise TypeError(f"expected vec to be a 1-D tensor, but got a {vec.dim()}-D tensor")
    offset = 0
    for p in parameters:
        n = p.numel()
        p.data = vec[offset:offset + n].reshape(tuple(p.shape)).detach()
        offset += n
