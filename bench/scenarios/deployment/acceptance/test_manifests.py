import unittest

import yaml


def compose():
    with open("deploy/docker-compose.yml") as fh:
        return yaml.safe_load(fh)["services"]


def k8s():
    with open("deploy/k8s/api.yaml") as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    return {d["kind"]: d for d in docs}


class Compose(unittest.TestCase):
    def test_services_kept(self):
        self.assertEqual(set(compose()), {"api", "worker", "redis"})

    def test_pinned_images(self):
        for name, svc in compose().items():
            image = svc["image"]
            self.assertIn(":", image.rsplit("/", 1)[-1], f"{name}: {image} has no tag")
            self.assertNotEqual(image.rsplit(":", 1)[1], "latest", f"{name}: {image}")

    def test_redis_health_and_dependencies(self):
        svcs = compose()
        self.assertIn("test", svcs["redis"].get("healthcheck", {}))
        for name in ("api", "worker"):
            dep = svcs[name].get("depends_on", {})
            self.assertIsInstance(dep, dict, f"{name}: depends_on needs the long form")
            self.assertEqual(dep.get("redis", {}).get("condition"), "service_healthy", name)

    def test_no_literal_secrets(self):
        for name, svc in compose().items():
            env = svc.get("environment", {}) or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) for e in env)
            if "REDIS_PASSWORD" in env:
                self.assertEqual(str(env["REDIS_PASSWORD"]).strip(), "${REDIS_PASSWORD}", name)


class Kubernetes(unittest.TestCase):
    def test_replicas_resources_probes(self):
        dep = k8s()["Deployment"]
        self.assertEqual(dep["spec"]["replicas"], 2)
        for c in dep["spec"]["template"]["spec"]["containers"]:
            for kind in ("requests", "limits"):
                self.assertTrue({"cpu", "memory"} <= set(c.get("resources", {}).get(kind, {})), f"{c['name']} {kind}")
            for probe in ("readinessProbe", "livenessProbe"):
                get = c.get(probe, {}).get("httpGet", {})
                self.assertEqual((get.get("path"), get.get("port")), ("/healthz", 8080), probe)

    def test_service_matches(self):
        docs = k8s()
        labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
        svc = docs["Service"]["spec"]
        self.assertTrue(svc["selector"] and all(labels.get(k) == v for k, v in svc["selector"].items()))
        self.assertEqual([p["targetPort"] for p in svc["ports"]], [8080])
