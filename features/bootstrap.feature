@chapter-2
Feature: Bootstrapping a cluster
  Chapter 2 builds the course's cluster by hand: minikube creates three nodes without Kubernetes,
  then kubeadm installs Kubernetes on them.

  Scenario: Create three nodes without Kubernetes
    # The course: minikube start --no-kubernetes --container-runtime=containerd --driver=docker --nodes 3
    When the reader starts 3 nodes without Kubernetes
    Then the node list is "<profile>", "<profile>-m02" and "<profile>-m03"
    And every node has its own IP
    And every node answers a command
    # "Containerd (the container runtime) is preinstalled."
    And every node has a container runtime
