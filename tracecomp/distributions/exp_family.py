"""ExponentialFamily (torch's): densities p(x) = h(x) exp(<t(x), theta> - F(theta)),
described by their natural parameters theta and log normalizer F. From those two alone
come the entropy and the KL divergence between two members of one family (a Bregman
divergence of F), both by differentiating F: torch's fallback for a family (or a user's
subclass) with no closed form registered."""
from .. import autograd
from .distribution import Distribution, sum_rightmost


class ExponentialFamily(Distribution):
    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        """F(theta) - <theta, grad F(theta)> - E[log h(x)]."""
        params = [p.detach().requires_grad_() for p in self._natural_params]
        log_normalizer = self._log_normalizer(*params)
        grads = autograd.grad(log_normalizer.sum(), params, create_graph=True)
        result = log_normalizer - self._mean_carrier_measure
        for theta, g in zip(params, grads):
            result = result - (theta * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result


def bregman_kl(p, q):
    """KL(p || q) = F(theta_q) - F(theta_p) - <theta_q - theta_p, grad F(theta_p)>."""
    if type(p) is not type(q):
        raise NotImplementedError("The cross KL-divergence between different exponential "
                                  "families cannot be computed using Bregman divergences")
    p_params = [t.detach().requires_grad_() for t in p._natural_params]
    q_params = q._natural_params
    log_normalizer = p._log_normalizer(*p_params)
    grads = autograd.grad(log_normalizer.sum(), p_params)
    result = q._log_normalizer(*q_params) - log_normalizer
    for theta_p, theta_q, g in zip(p_params, q_params, grads):
        result = result - sum_rightmost((theta_q - theta_p) * g, len(q.event_shape))
    return result
