//! The three programs a control plane is made of.

use std::fmt;

/// One program of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The etcd server that stores every object.
    Etcd,
    /// The Kubernetes API server.
    KubeApiserver,
    /// The controller manager, running only the garbage collector and the namespace controller.
    KubeControllerManager,
}

impl Component {
    /// Every component, in the order they are started.
    pub const ALL: [Component; 3] =
        [Component::Etcd, Component::KubeApiserver, Component::KubeControllerManager];

    /// The name of its binary, which is also the name of its log file (with `.log`).
    pub fn binary_name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary_name())
    }
}
