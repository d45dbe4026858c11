//! Manifests shaped like the course's (flannel, traefik, hello-world with Service and Ingress)
//! applied with the real kubectl, as the reader does.

mod common;

use common::Cluster;

const FLANNEL: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  labels:
    k8s-app: flannel
    pod-security.kubernetes.io/enforce: privileged
  name: kube-flannel
---
apiVersion: v1
kind: ServiceAccount
metadata:
  labels:
    k8s-app: flannel
  name: flannel
  namespace: kube-flannel
---
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  labels:
    k8s-app: flannel
  name: flannel
rules:
- apiGroups:
  - ""
  resources:
  - pods
  verbs:
  - get
- apiGroups:
  - ""
  resources:
  - nodes
  verbs:
  - get
  - list
  - watch
- apiGroups:
  - ""
  resources:
  - nodes/status
  verbs:
  - patch
---
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  labels:
    k8s-app: flannel
  name: flannel
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: flannel
subjects:
- kind: ServiceAccount
  name: flannel
  namespace: kube-flannel
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: kube-flannel-cfg
  namespace: kube-flannel
  labels:
    tier: node
    k8s-app: flannel
    app: flannel
data:
  cni-conf.json: |
    {
      "name": "cbr0",
      "cniVersion": "0.3.1",
      "plugins": [{"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}}]
    }
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "Backend": {"Type": "vxlan"}
    }
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
  labels:
    tier: node
    app: flannel
    k8s-app: flannel
spec:
  selector:
    matchLabels:
      app: flannel
  template:
    metadata:
      labels:
        tier: node
        app: flannel
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - key: kubernetes.io/os
                operator: In
                values:
                - linux
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations:
      - operator: Exists
        effect: NoSchedule
      serviceAccountName: flannel
      initContainers:
      - name: install-cni-plugin
        image: docker.io/flannel/flannel-cni-plugin:v1.1.2
        command:
        - cp
        args:
        - -f
        - /flannel
        - /opt/cni/bin/flannel
        volumeMounts:
        - name: cni-plugin
          mountPath: /opt/cni/bin
      containers:
      - name: kube-flannel
        image: docker.io/flannel/flannel:v0.21.4
        command:
        - /opt/bin/flanneld
        args:
        - --ip-masq
        - --kube-subnet-mgr
        resources:
          requests:
            cpu: "100m"
            memory: "50Mi"
        securityContext:
          privileged: false
          capabilities:
            add: ["NET_ADMIN", "NET_RAW"]
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        volumeMounts:
        - name: run
          mountPath: /run/flannel
      volumes:
      - name: run
        hostPath:
          path: /run/flannel
      - name: cni-plugin
        hostPath:
          path: /opt/cni/bin
      - name: flannel-cfg
        configMap:
          name: kube-flannel-cfg
"#;

const HELLO: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello-world
spec:
  replicas: 2
  selector:
    matchLabels:
      app: hello
  template:
    metadata:
      labels:
        app: hello
    spec:
      containers:
      - name: hello-world
        image: stefanprodan/podinfo
        ports:
        - containerPort: 9898
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector:
    app: hello
  ports:
  - port: 80
    targetPort: 9898
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: hello
spec:
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: hello
            port:
              number: 80
"#;

#[tokio::test(flavor = "multi_thread")]
async fn flannel_and_hello_world_apply_like_the_reader_does() {
    let c = Cluster::start("1.33").await;
    let out = c.apply(FLANNEL);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "namespace/kube-flannel created",
            "serviceaccount/flannel created",
            "clusterrole.rbac.authorization.k8s.io/flannel created",
            "clusterrolebinding.rbac.authorization.k8s.io/flannel created",
            "configmap/kube-flannel-cfg created",
            "daemonset.apps/kube-flannel-ds created",
        ]
    );
    let again = c.apply(FLANNEL);
    assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
    let ds = c.ok(&["get", "ds", "-n", "kube-flannel"]);
    assert_eq!(
        ds.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE"
        ]
    );
    let dsj: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "ds",
        "-n",
        "kube-flannel",
        "kube-flannel-ds",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        dsj["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        1
    );
    assert_eq!(
        dsj["spec"]["template"]["spec"]["initContainers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(
        dsj["spec"]["template"]["spec"]["volumes"][2]["configMap"]["defaultMode"],
        420
    );

    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    let out = c.apply(HELLO);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/hello-world created",
            "service/hello created",
            "ingress.networking.k8s.io/hello created"
        ]
    );
    let both = c.ok(&["get", "deployment,replicaset"]);
    assert!(
        both.lines()
            .next()
            .unwrap()
            .starts_with("NAME                          READY   UP-TO-DATE   AVAILABLE   AGE"),
        "{both}"
    );
    assert!(both.contains("deployment.apps/hello-world   0/2"), "{both}");
    let ing = c.ok(&["get", "ingress"]);
    assert_eq!(
        ing.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    assert_eq!(
        ing.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>(),
        ["hello", "<none>", "*", "80"],
        "{ing}"
    );
    assert_eq!(
        c.ok(&["scale", "--replicas=2", "deployment/hello-world"])
            .trim(),
        "deployment.apps/hello-world scaled"
    );
}
