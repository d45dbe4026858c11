@chapter-2
Feature: Bootstrapping a cluster
  Chapter 2 builds the course's cluster by hand: minikube creates three nodes without Kubernetes,
  then kubeadm installs Kubernetes on them, flannel connects them, traefik routes into them, and
  the kubeconfig reaches the reader's computer. Each scenario performs one section of the chapter
  with the course's own commands, on the cluster the previous one left.

  Scenario: Create three nodes without Kubernetes
    # The course: minikube start --no-kubernetes --container-runtime=containerd --driver=docker --nodes 3
    When the reader starts 3 nodes without Kubernetes
    Then the node list is "<profile>", "<profile>-m02" and "<profile>-m03"
    And every node has its own IP
    And every node answers a command
    # "Containerd (the container runtime) is preinstalled."
    And every node has a container runtime

  Scenario: Bootstrap the primary node
    Given a cluster where the reader has completed "nodes created"
    # sudo bash master.sh auto (primary), sudo bash worker.sh auto (workers)
    When the reader completes "scripts run"
    Then "ls -1" on "<profile>" prints exactly:
      """
      config.yaml
      flannel.yaml
      master.sh
      traefik.yaml
      """
    # sudo kubeadm init --config config.yaml
    When the reader completes "control plane initialised"
    Then kubeadm init printed the kubeconfig instructions and a join command for the primary node
    # mkdir -p $HOME/.kube; sudo cp -i …; sudo chown …
    When the reader completes "kubectl configured"
    Then "kubectl cluster-info" on "<profile>" names the control plane and CoreDNS
    And "kubectl get pods --all-namespaces" on "<profile>" shows:
      | NAMESPACE   | NAME                              | READY | STATUS   |
      | kube-system | etcd-<profile>                    | 1/1   | Running  |
      | kube-system | kube-apiserver-<profile>          | 1/1   | Running  |
      | kube-system | kube-controller-manager-<profile> | 1/1   | Running  |
      | kube-system | kube-scheduler-<profile>          | 1/1   | Running  |
      | kube-system | kube-proxy-*                      | 1/1   | Running  |
      | kube-system | coredns-*                         | 0/1   | !Running |
    And describing a CoreDNS pod explains that the network is not ready

  Scenario: Install a network plugin
    Given a cluster where the reader has completed "kubectl configured"
    When the reader completes "network plugin installed"
    Then "kubectl apply -f flannel.yaml" printed:
      """
      namespace/kube-flannel created
      clusterrole.rbac.authorization.k8s.io/flannel created
      clusterrolebinding.rbac.authorization.k8s.io/flannel created
      serviceaccount/flannel created
      configmap/kube-flannel-cfg created
      daemonset.apps/kube-flannel-ds created
      """
    And "kubectl get nodes -o wide" on "<profile>" shows:
      | NAME      | STATUS | ROLES         | INTERNAL-IP |
      | <profile> | Ready  | control-plane | <node ip>   |
    And "kubectl get pods --all-namespaces" on "<profile>" shows:
      | NAMESPACE    | NAME              | READY | STATUS  |
      | kube-system  | coredns-*         | 1/1   | Running |
      | kube-flannel | kube-flannel-ds-* | 1/1   | Running |

  Scenario: Connect the worker nodes
    Given a cluster where the reader has completed "network plugin installed"
    # sudo kubeadm join <ip>:8443 --token … --discovery-token-ca-cert-hash sha256:…, then
    # sudo systemctl enable kubelet, on each worker
    When the reader completes "workers joined"
    Then "sudo kubeadm join" printed "This node has joined the cluster" on "<profile>-m02" and "<profile>-m03"
    And the kubelet is enabled on "<profile>-m02" and "<profile>-m03"
    And "kubectl get nodes -o wide" on "<profile>" shows:
      | NAME          | STATUS | ROLES         | INTERNAL-IP |
      | <profile>     | Ready  | control-plane | <node ip>   |
      | <profile>-m02 | Ready  | <none>        | <node ip>   |
      | <profile>-m03 | Ready  | <none>        | <node ip>   |

  Scenario: Install the Ingress controller
    Given a cluster where the reader has completed "workers joined"
    When the reader completes "ingress controller installed"
    Then "kubectl apply -f traefik.yaml" printed:
      """
      namespace/traefik created
      serviceaccount/traefik created
      clusterrole.rbac.authorization.k8s.io/traefik created
      clusterrolebinding.rbac.authorization.k8s.io/traefik created
      daemonset.apps/traefik created
      """
    And "kubectl get pods -n traefik -o wide" on "<profile>" shows:
      | NAME      | READY | STATUS  |
      | traefik-* | 1/1   | Running |
    And the DaemonSet "traefik" in "traefik" runs a pod on every node it tolerates
    # "404 page not found is not an error": no route is set up yet
    And from the jumpbox, curl of "<profile>-m02" answers 404 "404 page not found"

  Scenario: Expose the kubeconfig
    Given a cluster where the reader has completed "ingress controller installed"
    # minikube ssh --node minikube cat '$HOME/.kube/config' >kubeconfig; export KUBECONFIG=…
    When the reader completes "kubeconfig exported"
    Then "kubectl cluster-info" on "the host" names the control plane and CoreDNS
