@chapter-6
Feature: Exploring the kubelet
  Chapter 6 looks at containerd through crictl and ctr on the nodes, breaks a container and a pod
  sandbox by hand, and watches the kubelet put them back.

  Background:
    Given a cluster where the reader has completed "hello-world deployed"

  Scenario: Explore containerd with crictl
    Then "sudo crictl version" on "<profile>" names the runtime "containerd" and the CRI API "v1"
    And "sudo crictl ps" on "<profile>" lists running containers "etcd", "kube-apiserver", "kube-controller-manager" and "kube-scheduler"
    And "sudo crictl inspect" of the "kube-apiserver" container on "<profile>" shows "CONTAINER_RUNNING"

  Scenario: The kubelet restarts a stopped container
    When the reader stops the app container of a hello-world pod with "sudo crictl stop" on its worker
    Then that pod's app container restarts once and the pod is Running again

  Scenario: One pause container per pod
    Then "sudo ctr --namespace k8s.io container list" on each worker shows one pause container per pod the API places there

  Scenario: The kubelet re-creates a killed sandbox
    When the reader kills the pause container of a hello-world pod with "sudo ctr --namespace k8s.io task kill" on its worker
    Then that pod's app container restarts once and the pod is Running again
    And that pod's events since then include "SandboxChanged", "Killing" and "Started"
    And "kubectl describe pod" of that pod on "the host" shows the events "SandboxChanged", "Killing" and "Started"
    And "sudo journalctl -u kubelet" on that pod's worker mentions the killed sandbox
