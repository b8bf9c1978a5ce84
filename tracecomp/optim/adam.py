"""Adam and AdamW: torch's single-tensor update (torch.optim.adam._single_tensor_adam with
capturable=False), op for op, with the same state ('step' as a float32 0-d tensor,
'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq' with amsgrad). lr and betas may be 1-element
tensors, as in torch."""
from ..creation import tensor, zeros_like
from ..tensor import Tensor
from .optimizer import Optimizer, real_views, step_count
from .options import capturable_error, check_betas, check_fused, setting


def _check_tensor_options(lr, betas, foreach, capturable):
    """torch's rules for lr and betas given as tensors."""
    if isinstance(lr, Tensor):
        if foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and "
                             "foreach=True")
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


class Adam(Optimizer):
    # AdamW inherits torch's message, as torch's AdamW (a subclass of Adam) does
    sparse_refusal = "Adam does not support sparse gradients, please consider SparseAdam instead"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_tensor_options(lr, betas, foreach, capturable)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        both = (isinstance(betas[0], float) and isinstance(betas[1], float)) or (
            isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        if not both:
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor):
                if not capturable and foreach:
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for "
                                     f"capturable=False and foreach=True")
                if beta.numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(b.reshape(()) if isinstance(b, Tensor) else b for b in betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable,
                    "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)

    def _init_state(self, state, p, amsgrad):
        state["step"] = tensor(0.0)
        state["exp_avg"] = zeros_like(p)
        state["exp_avg_sq"] = zeros_like(p)
        if amsgrad:
            state["max_exp_avg_sq"] = zeros_like(p)

    fed_settings = ("lr", "betas")

    def _update_group(self, group):
        lr, eps = setting(group, "lr"), group["eps"]
        beta1, beta2 = setting(group, "betas", 0), setting(group, "betas", 1)
        weight_decay, amsgrad, maximize = (group["weight_decay"], group["amsgrad"],
                                           group["maximize"])
        decoupled = group["decoupled_weight_decay"]
        # fused=True has a CPU kernel that takes capturable; the single-tensor path does not
        capturable = group["capturable"] and not group["fused"]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                self._init_state(state, p, amsgrad)
            if maximize:
                grad = -grad
            if p.is_complex():
                p, grad, state = real_views(p, grad, state)
            if capturable:
                raise capturable_error()
            step_t = state["step"]
            step_t += 1
            grad = decay_and_moments(p, grad, state, lr, weight_decay, decoupled, beta1, beta2)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

            # bias corrections in Python floats (double), as torch's non-capturable path
            step = step_count(step_t)
            step_size = lr / (1 - beta1 ** step)
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            if amsgrad:
                max_sq = state["max_exp_avg_sq"]
                max_sq.maximum_(exp_avg_sq)
                denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            else:
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the update)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def decay_and_moments(p, grad, state, lr, weight_decay, decoupled, beta1, beta2):
    """The first half of an Adam-family step (Adam, AdamW, NAdam, RAdam): weight decay,
    decoupled (AdamW's: the parameter shrinks) or L2 (added to the gradient), then the moving
    averages of the gradient and of its square in state. Returns the gradient the rest of the
    step uses."""
    if weight_decay != 0:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(p, alpha=weight_decay)
    state["exp_avg"].lerp_(grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    return grad
