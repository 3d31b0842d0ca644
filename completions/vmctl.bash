# bash completion for vmctl                                 -*- shell-script -*-
# Install: source this file, or copy it to
# /usr/share/bash-completion/completions/vmctl

_vmctl_vms()
{
	vmctl list 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_vmctl()
{
	local cur prev cmd i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="create start stop destroy list status port suspend resume snapshot log
		image console ssh cp up down reload provision validate version help"

	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
		return
	fi

	case $prev in
	--image|--cloud-init|--ssh-key|--key|--file|-f|--share)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--name|--vcpus|--memory|--disk|--bridge|--image-url|--sha256|--timeout|-t|--tail|-n|--user|--stall-timeout|--max-size|--low-speed-limit|--low-speed-time|-p|--publish|--add)
		return ;;
	--rm)
		# the host ports the VM forwards: "80/tcp -> 127.0.0.1:8080" is 8080
		[[ $cmd == port ]] && COMPREPLY=($(compgen -W "$(vmctl port "${COMP_WORDS[i+1]}" 2>/dev/null | awk '{ n = split($3, a, ":"); p = a[n]; if ($1 ~ /udp$/) p = p "/udp"; print p }')" -- "$cur"))
		return ;;
	esac

	local opts=""
	case $cmd in
	create) opts="--name --image --image-url --sha256 --max-size --vcpus --memory --disk --bridge
		--vnic --backend --cloud-init --ssh-key --share --start -p --publish --connect" ;;
	start) opts="--cold" ;;
	stop) opts="--timeout --save" ;;
	list) opts="--json --host" ;;
	status) opts="--json" ;;
	port) opts="--add --rm --json" ;;
	log) opts="--console --provision --tail" ;;
	ssh) opts="--name --user --key --file" ;;
	cp) opts="--recursive --user --key --file" ;;
	up|reload) opts="--file --name --parallel --fail-fast --no-deps --no-provision" ;;
	down) opts="--file --name --parallel --fail-fast --save --destroy" ;;
	provision) opts="--file --name --parallel --fail-fast --no-deps" ;;
	validate) opts="--file --json" ;;
	image)
		local sub=${COMP_WORDS[i+1]}
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W "pull list inspect rm prune" -- "$cur"))
			return
		fi
		case $sub in
		pull) opts="--name --sha256 --quiet --stall-timeout --max-size --low-speed-limit
			--low-speed-time" ;;
		list) opts="--json --digests" ;;
		inspect) opts="--json"; [[ $cur != -* ]] && { COMPREPLY=($(compgen -f -- "$cur")); return; } ;;
		rm) [[ $cur != -* ]] && { COMPREPLY=($(compgen -W "$(vmctl image list 2>/dev/null | awk 'NR > 1 && !/^Total: / { print $1 }')" -- "$cur")); return; } ;;
		prune) opts="--all --dry-run --json" ;;
		esac ;;
	snapshot)
		local sub=${COMP_WORDS[i+1]}
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W "create list restore rm" -- "$cur"))
			return
		fi
		[[ $sub == list ]] && opts="--json"
		if [[ $cur != -* ]]; then
			if ((COMP_CWORD == i + 2)); then
				COMPREPLY=($(compgen -W "$(_vmctl_vms)" -- "$cur"))
			elif ((COMP_CWORD == i + 3)) && [[ $sub == restore || $sub == rm ]]; then
				COMPREPLY=($(compgen -W "$(vmctl snapshot list "${COMP_WORDS[i+2]}" 2>/dev/null | awk 'NR > 1 { print $1 }')" -- "$cur"))
			fi
			return
		fi ;;
	help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
		return
	fi
	case $cmd in
	start|stop|destroy|status|port|suspend|resume|log|console|ssh)
		COMPREPLY=($(compgen -W "$(_vmctl_vms)" -- "$cur")) ;;
	cp)
		# host paths, or NAME: of a VM (bash splits words at ':')
		COMPREPLY=($(compgen -f -- "$cur") $(compgen -S : -W "$(_vmctl_vms)" -- "$cur"))
		compopt -o nospace 2>/dev/null ;;
	esac
}
complete -F _vmctl vmctl
