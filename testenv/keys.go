package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in the two encodings files need: the OpenSSH
// private key PEM (what ssh and sshd read) and the authorized_keys line.
type keyPair struct {
	PrivatePEM []byte
	Public     ssh.PublicKey
}

// AuthorizedKey is the public key as one line, as in authorized_keys and
// .pub files.
func (k keyPair) AuthorizedKey() []byte { return ssh.MarshalAuthorizedKey(k.Public) }

// newKeyPair generates a fresh ed25519 key. Host keys are made here rather
// than by ssh-keygen in each container so that known_hosts can be written
// before any host has booted, with no ssh-keyscan (which would trust
// whatever answered).
func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("encode key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, fmt.Errorf("encode public key: %w", err)
	}
	return keyPair{PrivatePEM: pem.EncodeToMemory(block), Public: sshPub}, nil
}
