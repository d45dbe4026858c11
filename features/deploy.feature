@chapter-3
Feature: Deploying an application
  Chapter 3 deploys the course's "Hello World": a Deployment `hello-world` (podinfo, label
  `app: hello`, port 9898, 2 replicas), a Service `hello` and an Ingress on `/`, customised from
  the course's examples as the reader must (fixtures/manifests/hello-world.yaml).

  Scenario: Deploy hello-world and reach it through each worker
    Given a cluster where the reader has completed "kubeconfig exported"
    When the reader completes "hello-world deployed"
    Then "kubectl apply -f hello-world.yaml" printed:
      """
      deployment.apps/hello-world created
      service/hello created
      ingress.networking.k8s.io/hello created
      """
    And "kubectl get pods -o wide" on "the host" shows:
      | NAME          | READY | STATUS  | NODE |
      | hello-world-* | 1/1   | Running | !<none> |
    And the hello-world pods run one on each worker
    And from the jumpbox, curl of each worker answers podinfo's JSON naming a hello-world pod
