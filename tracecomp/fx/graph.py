"""Graph: the node list of an FX program (torch.fx.Graph), its editing API and its checks.

Nodes live in a ring closed by a sentinel `root` node; new nodes go at the insertion point
(before the sentinel, i.e. at the end, unless `inserting_before` / `inserting_after` moved
it). `lint()` checks what every pass relies on: each node belongs to this graph, each
argument is defined before it is read, names are unique, and targets of get_attr /
call_module exist on the owning module.
"""
import inspect

from .codegen import python_code
from .names import Namespace, snake_case
from .node import Node, map_arg, qualified_name
from .public_names import public_name
from .table import format_table

_EMPTY = inspect.Signature.empty


class _NodeList:
    """A live view of a graph's nodes (iterating while erasing the current node is safe)."""

    def __init__(self, graph, reverse=False):
        self._graph, self._reverse = graph, reverse

    def __len__(self):
        return self._graph._len

    def __iter__(self):
        root = self._graph._root
        step = "_prev" if self._reverse else "_next"
        cur = getattr(root, step)
        while cur is not root:
            following = getattr(cur, step)
            if not cur._erased:
                yield cur
            cur = following

    def __reversed__(self):
        return iter(_NodeList(self._graph, not self._reverse))


class _InsertPoint:
    """Moves a graph's insertion point when made, and back when its `with` block ends."""

    def __init__(self, graph, insert):
        self._graph = graph
        self._saved, graph._insert = graph._insert, insert

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        self._graph._insert = self._saved


class Graph:
    """An FX graph; build it with the node-making methods or get one from a Tracer."""

    def __init__(self, owning_module=None, tracer_cls=None, tracer_extras=None):
        # tracer_cls / tracer_extras: kept for torch's signature (how the graph was made)
        self._root = Node(self, "", "root", "", (), {})
        self._namespace = Namespace()
        self._len = 0
        self._insert = self._root.prepend
        self._owning_module = owning_module
        self._tracer_cls = tracer_cls
        self._tracer_extras = tracer_extras

    @property
    def owning_module(self):
        return self._owning_module

    @owning_module.setter
    def owning_module(self, mod):
        self._owning_module = mod

    @property
    def nodes(self):
        return _NodeList(self)

    # --- making nodes ---------------------------------------------------------------------
    def create_node(self, op, target, args=None, kwargs=None, name=None, type_expr=None):
        candidate = name if name is not None else self._target_to_str(target)
        name = self._namespace.create_name(candidate, None)
        n = Node(self, name, op, target, args or (), kwargs or {}, type_expr)
        self._namespace.associate(name, n)
        self._insert(n)
        self._len += 1
        return n

    @staticmethod
    def _target_to_str(target):
        # a public function by the name it is called by, as torch's are (tracecomp.arctan
        # shares atan's code and __name__; torch.arctan's node is %arctan)
        known = public_name(target) if callable(target) else None
        op = known.rsplit(".", 1)[-1] if known is not None else \
            getattr(target, "__name__", None) if callable(target) else target
        if op.startswith("__") and op.endswith("__"):
            op = op[2:-2]
        return snake_case(op)

    def placeholder(self, name, type_expr=None, default_value=_EMPTY):
        args = () if default_value is _EMPTY else (default_value,)
        return self.create_node("placeholder", name, args, type_expr=type_expr)

    def get_attr(self, qualified_name, type_expr=None):
        return self.create_node("get_attr", qualified_name, type_expr=type_expr)

    def call_module(self, module_name, args=None, kwargs=None, type_expr=None):
        return self.create_node("call_module", module_name, args, kwargs, type_expr=type_expr)

    def call_method(self, method_name, args=None, kwargs=None, type_expr=None):
        return self.create_node("call_method", method_name, args, kwargs, type_expr=type_expr)

    def call_function(self, the_function, args=None, kwargs=None, type_expr=None):
        return self.create_node("call_function", the_function, args, kwargs,
                                type_expr=type_expr)

    def output(self, result, type_expr=None):
        return self.create_node("output", "output", (result,), type_expr=type_expr)

    def node_copy(self, node, arg_transform=lambda x: x):
        """A copy of node (from any graph) in this one, its node arguments mapped by
        arg_transform."""
        args = map_arg(node.args, arg_transform)
        kwargs = map_arg(node.kwargs, arg_transform)
        result = self.create_node(node.op, node.target, args, kwargs, node.name, node.type)
        result.meta = dict(node.meta)
        return result

    def graph_copy(self, g, val_map, return_output_node=False):
        """Copy every node of g except its output into this graph, recording old -> new in
        val_map; returns what g's output returns, mapped."""
        for node in g.nodes:
            if node in val_map:
                continue
            if node.op == "output":
                out = map_arg(node.args[0], lambda n: val_map[n])
                return (out, node) if return_output_node else out
            val_map[node] = self.node_copy(node, lambda n: val_map[n])
        return None

    # --- where new nodes go ---------------------------------------------------------------
    def inserting_before(self, n=None):
        """Nodes made from now on (until the `with` block ends) go just before n (at the
        start if None)."""
        if n is None:
            return self.inserting_after(self._root)
        self._check_owner(n, "inserting_before")
        return _InsertPoint(self, n.prepend)

    def inserting_after(self, n=None):
        """Nodes made from now on go just after n (at the end if None). As in torch, each
        one goes right after n, so a second node lands before the first: chain them with
        one inserting_after per node, or insert before n.next."""
        if n is None:
            return self.inserting_before(self._root)
        self._check_owner(n, "inserting_after")
        return _InsertPoint(self, n.append)

    def _check_owner(self, n, what):
        if n.graph is not self:
            raise ValueError(f"Graph.{what}: node {n} does not belong to this graph")

    # --- removing nodes -------------------------------------------------------------------
    def erase_node(self, to_erase):
        if to_erase.graph is not self:
            raise RuntimeError(f"Attempting to remove {to_erase} from wrong graph!")
        if to_erase._erased:
            raise RuntimeError(f"Node {to_erase} has already been erased")
        if to_erase.users:
            raise RuntimeError(f"Tried to erase Node {to_erase} but it still had "
                               f"{len(to_erase.users)} users in the graph: "
                               f"{dict(to_erase.users)}!")
        to_erase._remove_from_list()
        to_erase._erased = True
        self._len -= 1
        to_erase.args, to_erase.kwargs = (), {}

    def eliminate_dead_code(self, is_impure_node=None):
        """Erase nodes nothing reads (last to first); True when something changed."""
        impure = is_impure_node or (lambda n: n.is_impure())
        changed = False
        for node in reversed(self.nodes):
            if not node.users and not impure(node):
                self.erase_node(node)
                changed = True
        return changed

    def find_nodes(self, *, op, target=None, sort=True):
        """The nodes with this op (and target), in graph order (so `sort` changes nothing
        here: torch's lookup table needs it, a scan does not)."""
        return [n for n in self.nodes if n.op == op and (target is None or n.target == target)]

    # --- checks and printing --------------------------------------------------------------
    def lint(self):
        """Check the invariants every pass relies on; the error says which one broke and
        at which node."""
        seen, names = set(), set()
        for node in self.nodes:
            if node.graph is not self:
                raise RuntimeError(f"Node {node} does not belong to this Graph!")
            if node.op not in ("placeholder", "get_attr", "call_function", "call_method",
                               "call_module", "output"):
                raise RuntimeError(f"Node {node} had unknown opcode {node.op}!")
            for arg in node.all_input_nodes:
                if arg.graph is not self:
                    raise RuntimeError(f"Arg {arg} of Node {node} does not belong to this "
                                       "Graph")
                if arg not in seen:
                    raise RuntimeError(f"Argument '{arg}' of Node '{node}' was used before "
                                       "it has been defined! Please check that Nodes in the "
                                       "graph are topologically ordered\n" + str(self))
            if node.name in names:
                raise RuntimeError(f"Node redefined name {node.name}!")
            seen.add(node)
            names.add(node.name)
        if self.owning_module is not None:
            self._lint_targets()

    def _lint_targets(self):
        root = self.owning_module
        for node in self.nodes:
            if node.op not in ("get_attr", "call_module"):
                continue
            obj = root
            for i, part in enumerate(node.target.split(".")):
                if not hasattr(obj, part):
                    kind = "module" if node.op == "call_module" else "attribute"
                    done = ".".join(node.target.split(".")[:i])
                    raise RuntimeError(f"Node {node} target {node.target} references "
                                       f"nonexistent {kind} {part} of {done or 'the root'}")
                obj = getattr(obj, part)

    def python_code(self, root_module="self"):
        return python_code(self, root_module)

    def __str__(self):
        lines = ["graph():"]
        lines += [f"    {n.format_node()}" for n in self.nodes]
        return "\n".join(lines)

    def print_tabular(self):
        """Print one row per node: opcode, name, target, args, kwargs (tabulate's layout,
        without needing tabulate)."""
        rows = [[n.op, n.name, qualified_name(n.target) if n.op == "call_function"
                 else n.target, str(n.args), str(n.kwargs)] for n in self.nodes]
        print(format_table(rows, ["opcode", "name", "target", "args", "kwargs"]))

    def __deepcopy__(self, memo):
        g = Graph(tracer_cls=self._tracer_cls)
        out = g.graph_copy(self, {}, return_output_node=True)
        if out is not None:
            value, old = out
            g.output(value, old.type).meta = dict(old.meta)
        memo[id(self)] = g
        return g
