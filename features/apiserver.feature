@chapter-5
Feature: Exploring the API server
  Chapter 5 talks to the API server with curl through `kubectl proxy` on the reader's computer.
  The course stops the proxy with `killall kubectl`; the labs stop the one process they started.

  Scenario: Explore the API through kubectl proxy
    Given a cluster where the reader has completed "hello-world deployed"
    When the reader starts "kubectl proxy --port=8888" in the background
    Then the proxy prints that it serves on 127.0.0.1
    And "curl localhost:PORT/" through the proxy lists the paths "/api", "/api/v1", "/apis", "/healthz" and "/version"
    And "/api/v1/pods" through the proxy is a PodList with "<hello-world pods>"
    And "/api/v1/namespaces/default/pods/<hello-world pod>" through the proxy is that Pod
    And "/api/v1/nodes" through the proxy is a NodeList with "<profile>", "<profile>-m02" and "<profile>-m03"
    And "/api/v1/nodes/<profile>" through the proxy is that Node
    # The chapter's challenge: the API endpoint with the logs of a running Pod.
    And "/api/v1/namespaces/default/pods/<hello-world pod>/log" through the proxy returns the pod's log with "Starting podinfo"
    When the reader stops the proxy
