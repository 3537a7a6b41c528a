"""Kubernetes side of the controller: the API adapter, leader election and node lifecycle.

Entry points (imported by module, so that importing the settings stays cheap):

* ``kube.runner.run_in_app(app, stop)`` - ``main``'s hook when ``settings.kube.enabled``;
* ``kube.runner.run_lifecycle(settings, ports=..., pools=..., stop=...)`` - the same loops
  with explicit collaborators;
* ``kube.endpoints.router`` - ``GET /v1/namespaces/{ns}/pool`` and ``GET /v1/namespace-pools``;
* ``kube.client.KubeApi`` / ``kube.credentials.connect`` - the only way to the API server.
"""
