// Command provisioner is the cluster's dynamic volume provisioner: a host
// process (single node) that gives every pending PersistentVolumeClaim of its
// StorageClass a hostPath PersistentVolume on a fresh directory under -root,
// and removes the directory and the volume once the claim is deleted
// (reclaimPolicy Delete). Directories are mode 0777 so non-root pods (Pod
// Security "restricted") can write them; fsGroup does not apply to hostPath.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const annDir = "polyrpc.local/host-directory"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	root := flag.String("root", "", "directory the volumes are made in")
	class := flag.String("storage-class", "standard", "StorageClass whose claims this provisions")
	name := flag.String("provisioner-name", "polyrpc.local/hostpath", "provisioner name (the StorageClass's provisioner)")
	period := flag.Duration("period", time.Second, "how often claims and volumes are checked")
	flag.Parse()
	if *root == "" {
		log.Fatal("-root is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := os.MkdirAll(*root, 0o755); err != nil {
		log.Fatal(err)
	}
	log.Printf("provisioning claims of class %q (%s) under %s", *class, *name, *root)
	p := &prov{cs: cs, root: *root, class: *class, name: *name}
	for {
		if err := p.sync(ctx); err != nil && ctx.Err() == nil {
			log.Printf("sync: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(*period):
		}
	}
}

type prov struct {
	cs          kubernetes.Interface
	root        string
	class, name string
}

func (p *prov) sync(ctx context.Context) error {
	pvcs, err := p.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != p.class || c.Spec.VolumeName != "" ||
			c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		if err := p.provision(ctx, c); err != nil {
			log.Printf("provision %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	pvs, err := p.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvs.Items {
		v := &pvs.Items[i]
		dir := v.Annotations[annDir]
		if v.Spec.StorageClassName != p.class || dir == "" || v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			continue
		}
		if v.Status.Phase != corev1.VolumeReleased && v.Status.Phase != corev1.VolumeFailed {
			continue
		}
		if !strings.HasPrefix(filepath.Clean(dir), filepath.Clean(p.root)+"/") {
			log.Printf("volume %s: directory %s is outside %s, not deleting it", v.Name, dir, p.root)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Printf("volume %s: %v", v.Name, err)
			continue
		}
		err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			log.Printf("volume %s: %v", v.Name, err)
			continue
		}
		log.Printf("deleted volume %s and %s", v.Name, dir)
	}
	return nil
}

func (p *prov) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	pvName := "pvc-" + string(c.UID)
	dir := filepath.Join(p.root, fmt.Sprintf("%s_%s_%s", c.Namespace, c.Name, c.UID))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	size := c.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := c.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name: pvName,
			Annotations: map[string]string{
				"pv.kubernetes.io/provisioned-by": p.name,
				annDir:                            dir,
			},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.class,
			VolumeMode:                    c.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: c.Namespace, Name: c.Name, UID: c.UID, ResourceVersion: c.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
		},
	}
	_, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	log.Printf("provisioned %s for %s/%s at %s (%s)", pvName, c.Namespace, c.Name, dir, size.String())
	return nil
}
