@chapter-7 @destructive
Feature: Testing resiliency
  Chapter 7 takes the nodes down one by one with `minikube node stop` and watches what Kubernetes
  does: a stopped worker turns NotReady once the node lifecycle controller stops hearing from it,
  its pods are evicted when their toleration of the `unreachable` taint expires, the app keeps
  answering through the other worker, the workers carry on without the control plane, and pods
  created while no worker is Ready wait Pending and are never rebalanced afterwards. Every
  scenario stops nodes, so its cluster is never handed to the next one. Timings come from the
  cluster's configured values (`--timing`), never from the feature.

  @claim @k8s(>=1.27)
  Scenario: kube-controller-manager no longer takes --pod-eviction-timeout
    Given a cluster where the reader has completed "hello-world deployed"
    When the operator adds "--pod-eviction-timeout=30s" to kube-controller-manager's manifest on "<profile>"
    Then kube-controller-manager on "<profile>" crash-loops, its log saying "unknown flag: --pod-eviction-timeout"
    And the claim "ch7.pod-eviction-timeout" is recorded
    When the operator restores kube-controller-manager's manifest on "<profile>"
    Then kube-controller-manager on "<profile>" runs and leads again

  @slow @claim @k8s(<1.27)
  Scenario: kube-controller-manager takes --pod-eviction-timeout, and pods are evicted on their toleration all the same
    Given a cluster where the reader has completed "hello-world deployed"
    When the operator adds "--pod-eviction-timeout=30s" to kube-controller-manager's manifest on "<profile>"
    Then kube-controller-manager on "<profile>" runs and leads again
    Given the reader picks the worker to stop: "<profile>-m03" if it runs a hello-world pod
    When the reader stops "<stopped worker>" with "minikube node stop"
    Then "<stopped worker>" becomes NotReady within the node monitor grace period
    And "<stopped worker's pod>" is evicted after its toleration and replaced on "<other worker>"
    And the claim "ch7.pod-eviction-timeout" is recorded

  @slow @claim
  Scenario: A worker goes down and its pod is evicted
    Given a cluster where the reader has completed "hello-world deployed"
    And the reader picks the worker to stop: "<profile>-m03" if it runs a hello-world pod
    And the reader curls "<other worker>" from the jumpbox every 2 seconds
    When the reader stops "<stopped worker>" with "minikube node stop"
    Then "<stopped worker>" becomes NotReady within the node monitor grace period
    And "kubectl get nodes" on "the host" shows:
      | NAME             | STATUS   |
      | <stopped worker> | NotReady |
      | <other worker>   | Ready    |
    And "kubectl get pods -o wide" on "the host" shows:
      | NAME                   | STATUS  | NODE             |
      | <stopped worker's pod> | Running | <stopped worker> |
    And "<stopped worker's pod>" stays Running on the stopped worker until its toleration can expire
    And "<stopped worker's pod>" is evicted after its toleration and replaced on "<other worker>"
    And "kubectl get pods -o wide" on "the host" shows:
      | NAME                   | STATUS      | NODE             |
      | <stopped worker's pod> | Terminating | <stopped worker> |
      | <replacement pod>      | Running     | <other worker>   |
    And every curl of "<other worker>" since "<stopped worker>" became NotReady was answered by a hello-world pod
    And the claims "ch7.not-ready-latency", "ch7.heartbeat" and "ch7.eviction-latency" are recorded

  @slow
  Scenario: The control plane goes down and comes back
    Given a cluster where the reader has completed "hello-world deployed"
    And the reader curls "<profile>-m02" from the jumpbox every 2 seconds
    When the reader stops "<profile>" with "minikube node stop"
    Then "kubectl get nodes" on the host fails because no API server answers
    And the app keeps answering through "<profile>-m02" for the node monitor grace period
    When the reader starts "<profile>" with "minikube node start"
    Then the reader's kubeconfig reaches the API server, refreshed if its address moved
    And "kubectl get nodes" on "the host" shows:
      | NAME            | STATUS |
      | <profile>       | Ready  |
      | <profile>-m02   | Ready  |
      | <profile>-m03   | Ready  |
    And the workers' heartbeats resume and no pod is evicted for longer than the tolerations
    And every curl of "<profile>-m02" was answered by a hello-world pod

  @slow @claim
  Scenario: No worker is left, then both come back and nothing is rebalanced
    Given a cluster where the reader has completed "hello-world deployed"
    When the reader stops "<profile>-m03" with "minikube node stop"
    And the reader stops "<profile>-m02" with "minikube node stop"
    Then "<profile>-m03" becomes NotReady within the node monitor grace period
    And "<profile>-m02" becomes NotReady within the node monitor grace period
    And from the jumpbox, curl of "<profile>-m02" and "<profile>-m03" gets no answer
    When the reader scales "hello-world" to 5 with "kubectl edit"
    Then "kubectl edit deployment hello-world" printed:
      """
      deployment.apps/hello-world edited
      """
    And the new hello-world pods are Pending, 5 pods in all
    When the reader starts "<profile>-m02" with "minikube node start"
    And the reader starts "<profile>-m03" with "minikube node start"
    Then 5 hello-world pods are Running
    And from the jumpbox, curl of each worker answers podinfo's JSON naming a hello-world pod
    And the hello-world pods are spread over the workers in one of the ways the course lists
    And no hello-world pod moves, appears or is deleted for the node monitor grace period
    And the claims "ch7.distribution" and "ch7.no-rebalancing" are recorded
