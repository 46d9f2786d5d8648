#ifndef MINIKUBELET_CNFTNL_SHIM_H
#define MINIKUBELET_CNFTNL_SHIM_H

// libnftnl (nf_tables message and expression builders) and libmnl (netlink socket, batches, ACK parsing) for the
// nftables proxier's partial syncs. Swift calls these libraries directly; no C helpers are needed.
// glibc's netinet/in.h first: it tells the kernel's linux/in.h (pulled in by linux/netfilter.h) not to define
// in_addr and friends a second time, which clang modules would reject as conflicting definitions.
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#endif
