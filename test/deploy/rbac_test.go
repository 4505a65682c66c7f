package deploy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestWebhookConfigurationGrantProblems checks the RBAC check of TestInstallPathsAgree on roles it
// must refuse, the manager-role of before (update of every webhook configuration) among them.
func TestWebhookConfigurationGrantProblems(t *testing.T) {
	const (
		mutating = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: mosaic-mutating-webhook-configuration}`
		validating = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: mosaic-validating-webhook-configuration}`
		binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mosaic-webhook-cabundle-rolebinding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mosaic-webhook-cabundle-role}
subjects: [{kind: ServiceAccount, name: mosaic-controller-manager, namespace: mosaic-system}]`
		named = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: mosaic-webhook-cabundle-role}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], resourceNames: [mosaic-mutating-webhook-configuration], verbs: [get, update]}
- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], resourceNames: [mosaic-validating-webhook-configuration], verbs: [get, update]}`
		listWatch = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: mosaic-manager-role}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations], verbs: [list, watch]}`
	)
	cases := map[string]struct {
		// objects are an install path's objects, as YAML documents.
		objects []string
		// want are the problems found.
		want []string
	}{
		"list and watch of all, get and update of the two by name": {
			objects: []string{mutating, validating, binding, named, listWatch},
		},
		"update of every webhook configuration (the manager-role of before)": {
			objects: []string{mutating, validating, binding, named, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: mosaic-manager-role}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations], verbs: [get, list, update, watch]}`},
			want: []string{
				"ClusterRole.rbac.authorization.k8s.io mosaic-manager-role grants [get list update watch] on mutatingwebhookconfigurations.admissionregistration.k8s.io without resourceNames: it may rewrite any webhook configuration in the cluster",
				"ClusterRole.rbac.authorization.k8s.io mosaic-manager-role grants [get list update watch] on validatingwebhookconfigurations.admissionregistration.k8s.io without resourceNames: it may rewrite any webhook configuration in the cluster",
			},
		},
		"patch of everything in every group": {
			objects: []string{mutating, validating, binding, named, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: too-much}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: [patch]}`},
			want: []string{"ClusterRole.rbac.authorization.k8s.io too-much grants [patch] on *.admissionregistration.k8s.io without resourceNames: it may rewrite any webhook configuration in the cluster"},
		},
		"update of a configuration the path does not create": {
			objects: []string{mutating, validating, binding, named, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: other}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], resourceNames: [someone-elses], verbs: [update]}`},
			want: []string{"ClusterRole.rbac.authorization.k8s.io other grants [update] on ValidatingWebhookConfiguration.admissionregistration.k8s.io someone-elses, which this install path does not create"},
		},
		"the named role not bound: the rotator cannot inject its caBundle": {
			objects: []string{mutating, validating, named, listWatch},
			want: []string{
				"no ClusterRole bound to the manager lets it update MutatingWebhookConfiguration.admissionregistration.k8s.io mosaic-mutating-webhook-configuration (the certificate rotator injects its caBundle)",
				"no ClusterRole bound to the manager lets it update ValidatingWebhookConfiguration.admissionregistration.k8s.io mosaic-validating-webhook-configuration (the certificate rotator injects its caBundle)",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs := map[objectID]*unstructured.Unstructured{}
			for _, doc := range tc.objects {
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
					t.Fatal(err)
				}
				objs[idOf(u)] = u
			}
			if d := cmp.Diff(tc.want, webhookConfigurationGrantProblems(t, objs)); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}
