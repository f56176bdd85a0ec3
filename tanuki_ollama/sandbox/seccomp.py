"""A seccomp deny-list as a classic BPF program, built in pure Python (no libseccomp binding needed).

Docker-default style: syscalls that manage namespaces, mounts, kernel state, tracing and keyrings return EPERM;
``clone`` with any ``CLONE_NEW*`` flag returns EPERM; ``clone3`` returns ENOSYS (libc falls back to ``clone``,
whose flags a filter can see); sockets other than AF_UNIX/AF_INET/AF_INET6 fail with EAFNOSUPPORT; the
``TIOCSTI``/``TIOCLINUX`` ioctls fail; a foreign architecture (32-bit ``int 0x80``) kills the process.
``bwrap --seccomp FD`` loads the bytes returned by :func:`deny_filter`.

>>> len(deny_filter("x86_64")) % 8
0
"""

from __future__ import annotations

import errno
import platform
import struct

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06

_RET_KILL_PROCESS = 0x80000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

# offsets in struct seccomp_data
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24

_CLONE_NEW_MASK = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
_ALLOWED_SOCKET_DOMAINS = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6
_DENIED_IOCTLS = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX

ARCHES = {
    "x86_64": {
        "audit_arch": 0xC000003E,
        "x32_bit": 0x40000000,
        "clone": 56, "clone3": 435, "socket": 41, "socketpair": 53, "ioctl": 16,
        "denied": {
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "setns": 308, "unshare": 272,
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
            "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
            "delete_module": 176, "create_module": 174, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
            "keyctl": 250, "add_key": 248, "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303, "fsopen": 430,
            "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
            "mount_setattr": 442, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
            "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "syslog": 103,
            "quotactl": 179, "lookup_dcookie": 212, "vhangup": 153, "iopl": 172, "ioperm": 173,
            "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156, "fanotify_init": 300,
            "sethostname": 170, "setdomainname": 171, "nfsservctl": 180, "get_kernel_syms": 177,
            "query_module": 178,
        },
    },
    "aarch64": {
        "audit_arch": 0xC00000B7,
        "x32_bit": None,
        "clone": 220, "clone3": 435, "socket": 198, "socketpair": 199, "ioctl": 29,
        "denied": {
            "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "setns": 268, "unshare": 97,
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
            "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
            "delete_module": 106, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219,
            "add_key": 217, "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "open_by_handle_at": 265, "name_to_handle_at": 264, "fsopen": 430,
            "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
            "mount_setattr": 442, "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89,
            "settimeofday": 170, "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "syslog": 116,
            "quotactl": 60, "vhangup": 58, "fanotify_init": 262, "sethostname": 161, "setdomainname": 162,
        },
    },
}


def _insn(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _insn(_RET, value)


def supported(arch: str | None = None) -> bool:
    return (arch or platform.machine()) in ARCHES


def deny_filter(arch: str | None = None) -> bytes:
    """The filter for ``arch`` (default: this machine) as ``struct sock_filter[]`` bytes."""
    arch = arch or platform.machine()
    t = ARCHES[arch]
    eperm = _ret(_RET_ERRNO | errno.EPERM)
    prog = [_insn(_LD_W_ABS, _ARCH), _insn(_JEQ, t["audit_arch"], jt=1), _ret(_RET_KILL_PROCESS),
            _insn(_LD_W_ABS, _NR)]
    if t["x32_bit"]:
        prog += [_insn(_JGE, t["x32_bit"], jf=1), eperm]
    for nr in sorted(set(t["denied"].values())):
        prog += [_insn(_JEQ, nr, jf=1), eperm]
    prog += [_insn(_JEQ, t["clone3"], jf=1), _ret(_RET_ERRNO | errno.ENOSYS)]
    # clone: EPERM when any CLONE_NEW* flag is set
    prog += [_insn(_JEQ, t["clone"], jf=4), _insn(_LD_W_ABS, _ARG0), _insn(_JSET, _CLONE_NEW_MASK, jf=1), eperm,
             _ret(_RET_ALLOW)]
    # socket / socketpair: allow-list of domains
    for name in ("socket", "socketpair"):
        body = [_insn(_LD_W_ABS, _ARG0)]
        for dom in _ALLOWED_SOCKET_DOMAINS:
            body += [_insn(_JEQ, dom, jf=1), _ret(_RET_ALLOW)]
        body += [_ret(_RET_ERRNO | errno.EAFNOSUPPORT)]
        prog += [_insn(_JEQ, t[name], jf=len(body))] + body
    # ioctl: deny terminal injection
    body = [_insn(_LD_W_ABS, _ARG1)]
    for req in _DENIED_IOCTLS:
        body += [_insn(_JEQ, req, jf=1), eperm]
    body += [_ret(_RET_ALLOW)]
    prog += [_insn(_JEQ, t["ioctl"], jf=len(body))] + body
    prog += [_ret(_RET_ALLOW)]
    return b"".join(prog)
