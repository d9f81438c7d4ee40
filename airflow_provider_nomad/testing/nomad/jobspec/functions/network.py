"""CIDR functions (go-cty-funcs/cidr)."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..types import NUMBER, STRING
from ..values import ListValue, to_int
from .base import FunctionError, Param, function


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError as exc:
        raise FunctionError(f"invalid CIDR expression: {exc}", 0) from None


@function(Param("prefix", STRING), Param("hostnum", NUMBER))
def cidrhost(prefix: str, hostnum: Any) -> str:
    network = _network(prefix)
    number = to_int(hostnum)
    if number < 0:
        number += network.num_addresses
    if not 0 <= number < network.num_addresses:
        raise FunctionError(
            f"prefix of {network.prefixlen} does not accommodate a host numbered {to_int(hostnum)}"
        )
    return str(network.network_address + number)


@function(Param("prefix", STRING))
def cidrnetmask(prefix: str) -> str:
    network = _network(prefix)
    if network.version != 4:
        raise FunctionError("only IPv4 networks are supported", 0)
    return str(network.netmask)


def _subnet(network: Any, newbits: int, netnum: int) -> Any:
    new_prefix = network.prefixlen + newbits
    if new_prefix > network.max_prefixlen:
        raise FunctionError(
            f"insufficient address space to extend prefix of {network.prefixlen} by {newbits}"
        )
    if not 0 <= netnum < 2**newbits:
        raise FunctionError(
            f"prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        )
    size = 2 ** (network.max_prefixlen - new_prefix)
    return ipaddress.ip_network((int(network.network_address) + netnum * size, new_prefix))


@function(Param("prefix", STRING), Param("newbits", NUMBER), Param("netnum", NUMBER))
def cidrsubnet(prefix: str, newbits: Any, netnum: Any) -> str:
    return str(_subnet(_network(prefix), to_int(newbits), to_int(netnum)))


@function(Param("prefix", STRING), var=Param("newbits", NUMBER))
def cidrsubnets(prefix: str, *newbits: Any) -> list[str]:
    network = _network(prefix)
    out: list[str] = []
    current = int(network.network_address)
    for bits in newbits:
        size_bits = to_int(bits)
        new_prefix = network.prefixlen + size_bits
        if new_prefix > network.max_prefixlen:
            raise FunctionError(
                f"would extend prefix to {new_prefix} bits, which is too long for an "
                f"IPv{network.version} address"
            )
        size = 2 ** (network.max_prefixlen - new_prefix)
        current = -(-current // size) * size  # align to the subnet's size
        subnet = ipaddress.ip_network((current, new_prefix))
        if not subnet.subnet_of(network):  # type: ignore[arg-type]
            raise FunctionError(
                "not enough remaining address space for a subnet with a prefix of "
                f"{new_prefix} bits"
            )
        out.append(str(subnet))
        current += size
    return ListValue(out)


FUNCTIONS = {
    "cidrhost": cidrhost,
    "cidrnetmask": cidrnetmask,
    "cidrsubnet": cidrsubnet,
    "cidrsubnets": cidrsubnets,
}
