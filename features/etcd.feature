@chapter-4
Feature: Exploring etcd
  Chapter 4 connects to the control plane's etcd with etcdctl and kubeadm's certificates (the
  course's `alias etcdctl="sudo etcdctl --cacert … --cert … --key …"`, defined in the same shell as
  the commands that use it) and looks at how the API server keeps the cluster's objects.

  Background:
    Given a cluster where the reader has completed "hello-world deployed"

  Scenario: Connect to etcd with mutual TLS
    Then "etcdctl version" prints the etcdctl and API versions
    And "etcdctl member list --write-out=table" lists one started member named after the primary node
    And without the certificates, "sudo etcdctl member list" fails

  Scenario: Kubernetes keeps everything under /registry
    Then every key "etcdctl get --prefix / --keys-only" lists is under "/registry"
    And "etcdctl get --prefix /registry/pods/kube-system/ --keys-only | grep scheduler" prints the key "/registry/pods/kube-system/kube-scheduler-<profile>"
    And the value stored for a hello-world pod names the pod

  Scenario: Write a key and read it back
    Then the key "/k8s-labs/greeting" written with "hello" reads back with "etcdctl get"

  Scenario: Watch the pods change while the deployment scales
    When the reader watches "/registry/pods/" with "etcdctl watch --prefix /registry/pods/ -w json" in the background
    And the reader runs "kubectl scale --replicas=3 deployment/hello-world" on "<profile>"
    Then 3 hello-world pods are Running
    When the reader runs "kubectl scale --replicas=2 deployment/hello-world" on "<profile>"
    Then 2 hello-world pods are Running
    And the watch saw a hello-world pod created, updated and deleted
