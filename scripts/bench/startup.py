"""Startup benchmark runner for scripts/bench-startup.sh: wall time and peak RSS of
commands that do not generate, and of `serve` (with and without the generate role) until
/healthz answers. Prints a Markdown table; medians over --runs runs."""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(data_dir, roles, port, keyring):
    env = dict(os.environ)
    env.update(
        {
            "PRESSROOM__SECURITY__KEYRING_FILE": keyring,
            "PRESSROOM__PATHS__DATA_DIR": data_dir,
            "PRESSROOM__WORKERS__ROLES": ",".join(roles),
            "PRESSROOM__API__BIND": f"127.0.0.1:{port}",
            "PRESSROOM__LOG__LEVEL": "warn",
        }
    )
    return env


def run_once(argv, env):
    """Wall seconds and peak RSS (MiB) of one run that must succeed."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        sys.exit(f"{' '.join(argv)} failed ({status}): {err}")
    return wall, usage.ru_maxrss / 1024


def rss_mib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid):
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def serve_once(binary, env, port):
    """Seconds until /healthz answers, and RSS (MiB) of the daemon and of its children then."""
    started = time.perf_counter()
    proc = subprocess.Popen([binary, "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                sys.exit(f"{binary} serve exited ({proc.returncode})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - started > 300:
                sys.exit("serve did not answer /healthz within 300 s")
            time.sleep(0.005)
        ready = time.perf_counter() - started
        time.sleep(0.5)  # settle: workers claimed, pools open
        own = rss_mib(proc.pid)
        kids = sum(rss_mib(k) for k in children(proc.pid))
        return ready, own, kids
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def measure(binary, root, runs):
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        keyring = os.path.join(tmp, "keyring")
        env = environment(data, ["render", "publish", "notify", "review"], free_port(), keyring)
        subprocess.run([binary, "keyring", "init", keyring], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        image = os.path.join(tmp, "in.png")
        write_png(image)
        campaign = os.path.join(root, "templates/campaigns/spring-launch.toml")
        commands = {
            "pressroom --version": [binary, "--version"],
            "pressroom keys create": [binary, "keys", "create", "--workspace", "bench",
                                      "--role", "editor"],
            "pressroom campaign validate --offline": [binary, "campaign", "validate",
                                                      "--offline", campaign],
            "pressroom render (1080² PNG → instagram-square)": [
                binary, "render", "--preset", "instagram-square", "--input", image,
                "--output", os.path.join(tmp, "out.jpg")],
        }
        for name, argv in commands.items():
            samples = [run_once(argv, env) for _ in range(runs)]
            rows[name] = (statistics.median(s[0] for s in samples),
                          statistics.median(s[1] for s in samples), None)
        for roles, name in [(["render", "publish", "notify", "review"],
                             "serve, no generate role (to /healthz)"),
                            (["generate", "render", "publish", "notify", "review"],
                             "serve, all roles, tiny model (to /healthz)")]:
            samples = []
            for i in range(max(3, runs // 4)):
                port = free_port()
                env = environment(os.path.join(tmp, f"serve-{len(roles)}-{i}"), roles, port,
                                  keyring)
                samples.append(serve_once(binary, env, port))
            rows[name] = (statistics.median(s[0] for s in samples),
                          statistics.median(s[1] for s in samples),
                          statistics.median(s[2] for s in samples))
    return rows


def write_png(path):
    from PIL import Image  # in .venv with diffusers

    Image.effect_noise((1080, 1080), 64).convert("RGB").save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--after", required=True)
    ap.add_argument("--before")
    ap.add_argument("--root", required=True)
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    after = measure(a.after, a.root, a.runs)
    before = measure(a.before, a.root, a.runs) if a.before else None
    print(f"\nmedian of {a.runs} runs (serve: of {max(3, a.runs // 4)}); RSS in MiB "
          "(serve: the daemon, + its engine child process)\n")
    if before:
        print("| command | before: time | before: RSS | after: time | after: RSS | time ratio |")
        print("|---|---|---|---|---|---|")
    else:
        print("| command | time | RSS |")
        print("|---|---|---|")
    for name, (t, rss, kids) in after.items():
        shown = f"{rss:.0f}" + (f" + {kids:.0f}" if kids else "")
        if before:
            bt, brss, bkids = before[name]
            bshown = f"{brss:.0f}" + (f" + {bkids:.0f}" if bkids else "")
            print(f"| {name} | {bt * 1000:.0f} ms | {bshown} | {t * 1000:.0f} ms | {shown} "
                  f"| {t / bt:.3f} |")
        else:
            print(f"| {name} | {t * 1000:.0f} ms | {shown} |")


if __name__ == "__main__":
    main()
